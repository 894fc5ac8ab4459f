"""The web GUI of ``stonith serve`` at ``/ui``: configure, monitor and fence from a browser.

- ``sessions``: browser sessions (cookie, CSRF token, idle timeout) over the service's users;
- ``forms``: device forms rendered from a driver's metadata alone (no per-driver code);
- ``pictures``: the history timeline and the topology of a node as server-rendered SVG;
- ``pages``: the HTML pages; ``routes``: their Starlette routes and the login;
- ``strings``: every text the GUI shows, English msgids of the ``stonith`` gettext catalog;
- ``static/``: one stylesheet and one small script (no framework, no CDN: nothing is fetched
  from elsewhere at run time).

The pages read through the service and change nothing themselves: every change goes from the
page's script to the JSON API (``/api/v1``), which checks the role and the CSRF token.
"""
