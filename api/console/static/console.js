// Progressive enhancement only: every page works without it.
// A form with data-confirm asks before it is sent (approve, revoke, rotate keys).
document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) { event.preventDefault(); }
});
