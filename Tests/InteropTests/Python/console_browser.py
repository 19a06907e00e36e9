"""The operator console in a real headless Chromium, driven over the DevTools protocol on a pipe
(--remote-debugging-pipe, so no WebSocket library is needed): the login form, the session cookie,
a retry from the dead-letters page, logging out. Also, without the browser, that a form posted
without its session's form token is refused. Prints one JSON report; screenshots go to a folder.

usage: console_browser.py BASE_URL OPERATOR_TOKEN SCREENSHOT_DIR
"""
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request


class Browser:
    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="wzt-chromium-")
        to_browser_read, self.to_browser = os.pipe()
        self.from_browser, from_browser_write = os.pipe()

        def descriptors():
            # The protocol pipe is fds 3 (commands in) and 4 (replies out); moved high first so that
            # neither dup2 overwrites the other.
            high_in, high_out = os.dup(to_browser_read) + 100, os.dup(from_browser_write) + 100
            os.dup2(to_browser_read, high_in)
            os.dup2(from_browser_write, high_out)
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)

        self.process = subprocess.Popen(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             "--user-data-dir=" + self.profile, "--window-size=1280,900", "about:blank"],
            preexec_fn=descriptors, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_read)
        os.close(from_browser_write)
        self.buffer = b""
        self.next_id = 0
        self.events = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable", session=True)
        self.call("Network.enable", session=True)

    def call(self, method, params=None, session=False):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.time() + 20
        while time.time() < deadline:
            reply = self.read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)
        raise RuntimeError(f"{method}: no reply from chromium")

    def read(self):
        while b"\0" not in self.buffer:
            chunk = os.read(self.from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the protocol pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def evaluate(self, expression):
        return self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)["result"].get("value")

    def loaded(self, action):
        """Runs `action` (a navigation or a click) and waits for the page it leads to."""
        self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
        action()
        deadline = time.time() + 20
        while time.time() < deadline:
            if any(e.get("method") == "Page.loadEventFired" for e in self.events):
                return self.evaluate("location.pathname + location.search")
            self.events.append(self.read())
        raise RuntimeError("the page did not load")

    def open(self, url):
        return self.loaded(lambda: self.call("Page.navigate", {"url": url}, session=True))

    def click(self, selector):
        return self.loaded(lambda: self.evaluate(f"document.querySelector({json.dumps(selector)}).click()"))

    def text(self):
        return self.evaluate("document.body.innerText")

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        with open(path, "wb") as file:
            file.write(base64.b64decode(data))

    def close(self):
        try:
            self.call("Browser.close")
        except RuntimeError:
            pass
        self.process.wait(timeout=10)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


def post(url, fields, cookie=None):
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode(), method="POST")
    if cookie:
        request.add_header("Cookie", cookie)
    try:
        reply = urllib.request.build_opener(NoRedirect).open(request)
    except urllib.error.HTTPError as error:
        reply = error
    return reply.status, reply.headers


def get(url, cookie):
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    try:
        return urllib.request.build_opener(NoRedirect).open(request).status
    except urllib.error.HTTPError as error:
        return error.status


def main():
    base, token, shots = sys.argv[1], sys.argv[2], sys.argv[3]
    report = {}
    browser = Browser()
    try:
        report["unauthenticated"] = browser.open(base + "/dead-letters")
        browser.screenshot(os.path.join(shots, "console-login.png"))
        browser.evaluate(f"document.querySelector('input[name=token]').value = {json.dumps(token)}")
        report["after_login"] = browser.click("form[action='/login'] button")
        cookies = browser.call("Network.getCookies", {"urls": [base]}, session=True)["cookies"]
        session = next((c for c in cookies if c["name"] == "wzt_session"), {})
        report["cookie"] = {"httpOnly": session.get("httpOnly"), "sameSite": session.get("sameSite"), "path": session.get("path")}
        report["script_sees_cookie"] = "wzt_session" in (browser.evaluate("document.cookie") or "")
        report["dead_letters_page"] = browser.text()
        report["show_page"] = browser.open(base + "/dead-letters/1") and browser.text()
        browser.open(base + "/dead-letters")
        browser.screenshot(os.path.join(shots, "console-dead-letters.png"))
        report["after_retry"] = browser.click("#dead-letters form[action$='/retry'] button")
        report["after_retry_text"] = browser.text()
        browser.open(base + "/")
        report["status_page"] = browser.text()
        report["scripts_on_pages"] = browser.evaluate("document.scripts.length")
        browser.screenshot(os.path.join(shots, "status-page.png"))

        # The same session's cookie without the form token, and with a wrong one: refused.
        cookie = "wzt_session=" + session.get("value", "")
        report["discard_without_form_token"] = post(base + "/dead-letters/2/discard", {}, cookie)[0]
        report["discard_with_wrong_form_token"] = post(base + "/dead-letters/2/discard", {"csrf": "x"}, cookie)[0]
        report["old_cookie_status"] = get(base + "/dead-letters", cookie)
        # After a log-in, only a path of this node: a tab would make "/<TAB>/host" another site.
        report["login_redirects"] = [post(base + "/login", {"token": token, "next": n})[1].get("Location")
                                     for n in ["/\t/127.0.0.1:1/x", "//evil.example", "/\\evil", "javascript:alert(1)", "/events?type=be"]]
        browser.open(base + "/dead-letters")
        report["discard_in_browser"] = browser.click("#dead-letters form[action$='/discard'] button")
        report["after_discard_text"] = browser.text()

        report["after_logout"] = browser.click("form[action='/logout'] button")
        report["after_logout_open"] = browser.open(base + "/")
        report["old_cookie_before_logout"] = report.pop("old_cookie_status")
        report["old_cookie_after_logout"] = get(base + "/dead-letters", cookie)
    finally:
        browser.close()
    print(json.dumps(report))


main()
