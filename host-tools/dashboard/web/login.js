// @ts-check
// Says why the login page came back: the server redirects a wrong secret to /login?failed=1.
const failed = document.getElementById('failed');
if (failed && new URLSearchParams(location.search).has('failed')) failed.hidden = false;
