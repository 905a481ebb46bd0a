"""summitcal.mail: the outbox (queue, claims, outcomes) and the transports that send
(files, SMTP). It knows messages as rows and bytes, not what they say."""
