// summitcal: progressive enhancement only. Every page reads and subscribes without it.
(function () {
  "use strict";
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { zone = null; }

  function offsetLabel(date, tz) {
    try {
      var parts = new Intl.DateTimeFormat("en-GB", { timeZone: tz, timeZoneName: "shortOffset" })
        .formatToParts(date);
      for (var i = 0; i < parts.length; i++) {
        if (parts[i].type === "timeZoneName") { return parts[i].value.replace("GMT", "UTC").replace(/^UTC$/, "UTC+0"); }
      }
    } catch (e) { /* old browser */ }
    return "";
  }

  function fmt(date, tz, withDate) {
    var p = {};
    new Intl.DateTimeFormat("en-GB", { timeZone: tz, weekday: "long", day: "numeric", month: "long",
      year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
      .formatToParts(date).forEach(function (part) { p[part.type] = part.value; });
    var time = p.hour + ":" + p.minute;
    return withDate ? p.weekday + " " + p.day + " " + p.month + " " + p.year + ", " + time : time;
  }

  function dayKey(date, tz) {
    return new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" }).format(date);
  }

  // Reader's own time for every timed session: <span class="reader" data-start data-end>.
  if (zone) {
    var spans = document.querySelectorAll(".reader[data-start]");
    for (var i = 0; i < spans.length; i++) {
      var span = spans[i];
      var start = new Date(span.getAttribute("data-start"));
      var endAttr = span.getAttribute("data-end");
      var text = fmt(start, zone, true);
      if (endAttr) {
        var end = new Date(endAttr);
        var sameDay = dayKey(start, zone) === dayKey(end, zone);
        text += "–" + (sameDay ? fmt(end, zone, false) : fmt(end, zone, true));
      }
      span.textContent = "Your time: " + text + " (" + zone + ", " + offsetLabel(start, zone) + ")";
      span.hidden = false;
    }
    // Prefill the zone in sign-up and manage forms.
    var selects = document.querySelectorAll("select[data-browser-zone]");
    for (var j = 0; j < selects.length; j++) {
      var select = selects[j];
      if (select.getAttribute("data-chosen") === "") {
        for (var k = 0; k < select.options.length; k++) {
          if (select.options[k].value === zone) { select.value = zone; break; }
        }
      }
    }
  }

  // Copy-the-URL buttons.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) { return; }
    var input = document.getElementById(button.getAttribute("data-copy"));
    input.select();
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
    } else { document.execCommand("copy"); done(); }
  });

  // Sign-up: post to the subscriptions API and answer in place. Without JavaScript the
  // same form posts to /subscribe and a result page answers.
  var form = document.getElementById("signup-form");
  if (form && window.fetch && window.FormData) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = new FormData(form);
      var payload = {
        email: data.get("email"), timezone: data.get("timezone"), follow: data.getAll("follow"),
        reminders: data.getAll("reminders"), notices: data.getAll("notices"),
        language: data.get("language") || "en"
      };
      var status = document.getElementById("signup-status");
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      fetch("/api/subscriptions", {
        method: "POST", headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify(payload)
      }).then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      }).then(function (result) {
        button.disabled = false;
        if (result.ok) {
          status.className = "notice";
          status.textContent = "Thank you. We have sent a message to " + payload.email +
            ": open its link to confirm. Nothing else is sent until you do.";
          form.reset();
        } else {
          status.className = "error";
          status.textContent = "Please correct this: " + result.body.error.message;
          var field = result.body.error.field && form.querySelector("[name=" + result.body.error.field.split(".")[0] + "]");
          if (field) { field.focus(); }
        }
      }).catch(function () {
        button.disabled = false;
        form.submit();  // the page answers instead
      });
    });
  }
})();
