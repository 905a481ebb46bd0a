"""summitcal.subscriptions: subscribers, what they follow, their tokens and tables."""
