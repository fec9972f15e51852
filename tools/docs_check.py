"""Check the built documentation in a real browser with no network (``make docs-check``).

Builds the site (``mkdocs build --strict``), serves it on 127.0.0.1 and opens each page in
headless Chromium with every host but 127.0.0.1 unresolvable.  A page fails when

* its visible text (outside code, scripts, styles and MathML) still holds TeX: a math
  delimiter ``\\(`` ``\\)`` ``\\[`` ``\\]`` ``$$``, a ``$...$`` span or a ``\\command``;
* the page, or anything it loads, is not answered 200 by the local server, or the page
  requests a resource from any other origin (read from Chromium's net log: requests whose
  initiator is the page), or references one in a ``src``/``href`` of a resource element;
* an ``<img>`` did not load (``naturalWidth == 0`` after the load event), or is drawn
  narrower than 600 px (a figure too small to read);
* the page is wider than the 1400 px window (it would scroll sideways): the outermost
  elements that stick out are named.  A box that scrolls its own content (a wide table or
  formula) is fine;
* a MathML fraction is not drawn as a fraction (numerator box above the denominator box:
  the browser really typeset the MathML), or a page whose Markdown has math shows none.

The last three come from a small probe script that the check's server (not the site)
appends to each HTML page it serves; it writes what it saw into the DOM, which Chromium
dumps (``--dump-dom``) after the page's scripts have run.  A screenshot of each page is
saved under ``site-check/`` (gitignored).

Before the real pages it checks a page broken in each of these ways and stops unless every
failure is reported, so the check cannot pass by checking nothing.

Usage: ``python tools/docs_check.py [--no-build] [--all] [--out site-check]``; exit 0 when
every page passes, 1 otherwise (each failure printed), 2 when Chromium is missing.
"""

from __future__ import annotations

import argparse
import functools
import html.parser
import http.server
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
VIEWPORT = 1400         # px: the window the pages must fit (no sideways scrolling of the page)
MIN_IMAGE_WIDTH = 600   # px: an image drawn narrower than this is too small to read
PROBE_ID = "docs-check-probe"
PROBE = """
<script>
// Report once the page has stopped changing (a front end such as marimo's draws after the
// load event): poll the amount of text every 250 ms, at most 3.5 s (Chromium's virtual time).
const settled = (report) => {
  let last = -1, waited = 0;
  const poll = () => {
    const size = document.body.innerHTML.length;
    if ((size === last && waited >= 200) || waited >= 3500) { report(); return; }
    last = size; waited += 250; setTimeout(poll, 250);
  };
  setTimeout(poll, 200);
};
window.addEventListener("load", () => settled(() => {
  // Text and images, shadow roots included (marimo draws its outputs inside them).
  const texts = [], allImages = [];
  const walk = (node) => {
    if (node.nodeType === 3) texts.push(node.textContent);
    if (node.nodeName === "IMG") allImages.push(node);
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) {
      if (!["SCRIPT", "STYLE", "TEMPLATE", "NOSCRIPT"].includes(child.nodeName)) walk(child);
    }
  };
  walk(document.body);
  const images = allImages.map((i) => ({
    src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0,
    width: Math.round(i.getBoundingClientRect().width), natural: i.naturalWidth,
    shown: i.getClientRects().length > 0}));
  // The page is wider than the window: name the outermost elements that stick out (a box
  // that scrolls its own content, e.g. a wide table in its scroll wrapper, does not).
  const view = document.documentElement.clientWidth;
  const wide = [];
  if (document.documentElement.scrollWidth > view + 1) {
    const walk = (el) => {
      const r = el.getBoundingClientRect();
      if (r.right > view + 1 && r.width > 0) {
        const tag = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
          (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : "");
        const inside = Array.from(el.children).filter(
          (c) => c.getBoundingClientRect().right > view + 1);
        if (inside.length === 0 || wide.length > 20) {
          wide.push({element: tag, right: Math.round(r.right),
                     text: (el.textContent || "").trim().slice(0, 60)});
          return;
        }
        inside.forEach(walk);
      } else {
        Array.from(el.children).forEach(walk);
      }
    };
    walk(document.body);
  }
  const fractions = Array.from(document.querySelectorAll("mfrac")).map((f) => {
    if (f.children.length !== 2) return false;
    const top = f.children[0].getBoundingClientRect();
    const bottom = f.children[1].getBoundingClientRect();
    if (top.height === 0 && bottom.height === 0) return true;  // hidden (e.g. folded toc)
    return top.bottom <= bottom.top + 1;
  });
  const out = document.createElement("script");
  out.type = "application/json";
  out.id = "@PROBE_ID@";
  out.textContent = JSON.stringify({
    images: images,
    text: texts.join(" ").replace(/\\s+/g, " ").slice(0, 200000),
    width: document.documentElement.scrollWidth,
    viewport: view,
    wide: wide.slice(0, 5),
    math: document.querySelectorAll("math").length,
    fractions: fractions.length,
    fractions_flat: fractions.filter((ok) => !ok).length,
    resources: performance.getEntriesByType("resource").map((r) => r.name),
  });
  document.body.appendChild(out);
}));
</script>
""".replace("@PROBE_ID@", PROBE_ID)

# TeX left in visible text: delimiters, $...$ with TeX inside, or a \command.
_TEX = re.compile(
    r"\\\(|\\\)|\\\[|\\\]|\$\$|\$[^$\n]*[\\^_{}][^$\n]*\$|\\[A-Za-z]{2,}"
)
_SKIP_TAGS = {"script", "style", "pre", "code", "math", "annotation", "textarea", "svg"}
_RESOURCE_ATTRS = {
    "script": "src", "img": "src", "iframe": "src", "source": "src", "video": "src",
    "audio": "src", "embed": "src", "object": "data", "link": "href",
}


class _Handler(http.server.SimpleHTTPRequestHandler):
    log: list[tuple[str, int]]  # set per server by _serve
    lock = threading.Lock()

    def log_request(self, code="-", size="-"):
        with self.lock:
            self.log.append((self.path, int(code) if str(code).isdigit() else 0))

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if path.suffix == ".html" and path.is_file():
            body = path.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>", 1)
            data = body.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        super().do_GET()


class _Text(html.parser.HTMLParser):
    """Visible text outside code/script/style/MathML, the probe's JSON, resource URLs."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.resources: list[str] = []
        self.probe: str | None = None
        self._skip = 0
        self._in_probe = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("id") == PROBE_ID:
            self._in_probe = True
        if tag in _SKIP_TAGS:
            self._skip += 1
        name = _RESOURCE_ATTRS.get(tag)
        if name and attrs.get(name):
            if tag != "link" or set((attrs.get("rel") or "").split()) & {
                "stylesheet", "icon", "preload", "preconnect", "modulepreload", "manifest",
                "dns-prefetch", "prefetch",
            }:
                self.resources.append(attrs[name])

    def handle_endtag(self, tag):
        if tag in _SKIP_TAGS and self._skip:
            self._skip -= 1
        if tag == "script":
            self._in_probe = False

    def handle_data(self, data):
        if self._in_probe:
            self.probe = (self.probe or "") + data
        elif not self._skip:
            self.text.append(data)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if found := shutil.which(name):
            return found
    return None


def _browser_args(chrome: str) -> list[str]:
    return [
        chrome, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--disable-extensions", "--disable-sync",
        "--disable-background-networking", "--disable-component-update",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--hide-scrollbars", "--virtual-time-budget=4000",
    ]


def _page_requests(netlog: Path, origin: str) -> list[str]:
    """URLs the page itself requested (initiator = the page's origin), from the net log."""
    try:
        events = json.loads(netlog.read_text(encoding="utf-8"))["events"]
    except (OSError, ValueError, KeyError):
        text = netlog.read_text(encoding="utf-8", errors="replace") if netlog.exists() else ""
        events = [json.loads(x.rstrip(",")) for x in text.splitlines()[1:] if x.startswith('{"')]
    urls = []
    for event in events:
        params = event.get("params") or {}
        if params.get("initiator") == origin and "url" in params:
            urls.append(params["url"])
    return urls


def _pages(site: Path, everything: bool) -> list[tuple[str, bool]]:
    """(url path, whether its Markdown source has math) for every page to check."""
    sources = sorted((ROOT / "docs").glob("*.md")) + sorted((ROOT / "derivations").glob("*.md"))
    pages = []
    for source in sources:
        stem = "" if source.stem == "index" else source.stem + "/"
        prefix = "derivations/" if source.parent.name == "derivations" else ""
        url = prefix + stem
        has_math = "$" in re.sub(r"```.*?```|`[^`\n]*`", "", source.read_text(encoding="utf-8"), flags=re.S)
        pages.append((url, has_math))
    for url in EXTRA_PAGES:
        if (site / url).exists():
            pages.append((url, False))
    if everything:
        for index in sorted((site / "api").glob("*/index.html")):
            pages.append((f"api/{index.parent.name}/", False))
    return pages


def _short(src: str) -> str:
    return src[:40] + "… (embedded)" if src.startswith("data:") else unquote(urlsplit(src).path)


def check_page(chrome: str, origin: str, url: str, has_math: bool, shots: Path,
               server_log: list, quiet: bool = False) -> list[str]:
    problems = []
    start = len(server_log)
    with tempfile.TemporaryDirectory() as tmp:
        netlog = Path(tmp) / "net.json"
        dump = subprocess.run(
            [*_browser_args(chrome), f"--user-data-dir={tmp}/profile", f"--log-net-log={netlog}",
             f"--window-size={VIEWPORT},2400", "--dump-dom", f"{origin}/{url}"],
            capture_output=True, text=True, timeout=120,
        )
        requested = _page_requests(netlog, origin)
        name = url.strip("/").replace("/", "_").removesuffix(".html") or "index"
        subprocess.run(
            [*_browser_args(chrome), f"--user-data-dir={tmp}/profile2", f"--window-size={VIEWPORT},2400",
             f"--screenshot={shots / (name + '.png')}", f"{origin}/{url}"],
            capture_output=True, timeout=120, check=False,
        )
    if dump.returncode != 0 or not dump.stdout.strip():
        return [f"chromium failed (rc {dump.returncode}): {dump.stderr.strip()[-300:]}"]
    parser = _Text()
    parser.feed(dump.stdout)
    text = " ".join(" ".join(parser.text).split())
    for match in list(_TEX.finditer(text))[:5]:
        context = text[max(0, match.start() - 40) : match.end() + 40]
        problems.append(f"TeX left in the text: {match.group()!r} in …{context}…")
    for resource in parser.resources:
        if urlsplit(resource).scheme in ("http", "https") and not resource.startswith(origin):
            problems.append(f"references an outside resource: {resource}")
    for request in requested:
        if not request.startswith(origin):
            problems.append(f"requested an outside resource: {request}")
    for path, code in server_log[start:]:
        if code != 200:
            problems.append(f"local request {unquote(path)} answered {code}")
    if parser.probe is None:
        problems.append("the probe did not report (page scripts did not finish?)")
        return problems
    probe = json.loads(parser.probe)
    for image in probe["images"]:
        if not image["ok"]:
            problems.append(f"image did not load: {image['src']}")
        elif image.get("shown", True) and image["width"] < MIN_IMAGE_WIDTH:
            problems.append(f"image rendered {image['width']} px wide (< {MIN_IMAGE_WIDTH}; file "
                            f"{image['natural']} px): {_short(image['src'])}")
    if probe["width"] > probe["viewport"] + 1:
        where = "; ".join(f"{w['element']} to {w['right']} px ({w['text']!r})" for w in probe["wide"])
        problems.append(f"page {probe['width']} px wider than the viewport {probe['viewport']} px: {where}")
    for resource in probe["resources"]:
        if not resource.startswith(origin):
            problems.append(f"loaded an outside resource: {resource}")
    if probe["fractions_flat"]:
        problems.append(f"{probe['fractions_flat']} of {probe['fractions']} MathML fractions not stacked")
    for phrase in EXTRA_PAGES.get(url, ()):
        if phrase not in probe["text"]:
            problems.append(f"the page does not show {phrase!r} (blank, or its front end did not load)")
    if has_math and probe["math"] == 0:
        problems.append("the Markdown has math but the page shows no <math> element")
    if not quiet:
        print(f"  {url or '/':32s} math {probe['math']:4d}  fractions {probe['fractions']:4d}  "
              f"images {len(probe['images']):2d}  requests {len(requested):2d}  "
              f"{'ok' if not problems else 'FAIL'}")
    return problems


def _serve(directory: Path):
    """A local server for ``directory`` (probe appended to HTML); its origin and request log."""
    handler = type("Handler", (_Handler,), {"log": []})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}", handler.log


# Pages that are not Markdown pages of the site, and the text each must show when drawn (a
# page whose front end did not load is blank: its outputs sit unrendered in a script tag).
EXTRA_PAGES = {
    "explorer/explore.html": ("Hermite order: order l = 4", "h_j / j!", "Theory update"),
}

# What a browser without MathML shows: an <mfrac> outside <math> is an unknown HTML element,
# its two children laid out inline, side by side.
BROKEN_PAGE = r"""<!doctype html><html><head><meta charset="utf-8">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="missing.css">
<script src="https://cdn.example.org/tex.js"></script></head>
<body><p>Raw \(h_j(b)\) and \frac{a}{b} and $x_1$.</p>
<img src="missing.png" alt="">
<img src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7" width="200" alt="">
<div style="width: 2000px">a line wider than any window</div>
<p><mfrac><span>a</span><span>b</span></mfrac></p>
</body></html>
"""
EXPECTED_FAILURES = (
    "TeX left in the text", "references an outside resource", "requested an outside resource",
    "answered 404", "image did not load", "fractions not stacked", "px wide (< ",
    "wider than the viewport",
)


def self_test(chrome: str, shots: Path) -> list[str]:
    """Run the checks on a page broken in every way they look for; return what they missed."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "index.html").write_text(BROKEN_PAGE, encoding="utf-8")
        server, origin, log = _serve(Path(tmp))
        try:
            problems = check_page(chrome, origin, "", True, shots, log, quiet=True)
        finally:
            server.shutdown()
    return [kind for kind in EXPECTED_FAILURES if not any(kind in p for p in problems)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-build", action="store_true", help="check the existing site/")
    parser.add_argument("--all", action="store_true", help="also the API reference pages")
    parser.add_argument("--site", default=str(ROOT / "site"))
    parser.add_argument("--out", default=str(ROOT / "site-check"), help="screenshots go here")
    args = parser.parse_args(argv)
    chrome = _chromium()
    if chrome is None:
        print("docs-check: no chromium on PATH (apt-get install chromium)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    site = Path(args.site)
    if not args.no_build:
        subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                        "--site-dir", str(site)], cwd=ROOT, check=True)
    built = time.perf_counter()
    shots = Path(args.out)
    shots.mkdir(parents=True, exist_ok=True)
    missed = self_test(chrome, Path(tempfile.mkdtemp()))
    if missed:
        print(f"docs-check: the self-test page was not flagged for: {missed}", file=sys.stderr)
        return 1
    tested = time.perf_counter()
    print(f"docs-check: self-test ok ({tested - built:.1f} s): a broken page is flagged for "
          f"all {len(EXPECTED_FAILURES)} kinds of failure")
    server, origin, log = _serve(site)
    failures = 0
    pages = _pages(site, args.all)
    print(f"docs-check: {len(pages)} pages at {origin} with {chrome}")
    try:
        for url, has_math in pages:
            problems = check_page(chrome, origin, url, has_math, shots, log)
            for problem in problems:
                print(f"FAIL {url or '/'}: {problem}")
            failures += bool(problems)
    finally:
        server.shutdown()
    done = time.perf_counter()
    print(f"docs-check: {len(pages) - failures}/{len(pages)} pages pass; build "
          f"{built - started:.1f} s, browser {done - built:.1f} s; screenshots in {shots}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
