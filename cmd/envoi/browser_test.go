package main_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	main "envoi/cmd/envoi"
)

// ChromiumPath is Debian's Chromium, which .ci/run installs.
const ChromiumPath = "/usr/bin/chromium"

// ScreenshotDir is where the browser tests save a picture of each screen
// (git ignores /artifacts/).
var ScreenshotDir = filepath.Join("..", "..", "artifacts", "screenshots")

// Browser drives headless Chromium through chromedp, on loopback only.
type Browser struct {
	T    *testing.T
	Base string
	ctx  context.Context
	shot int
}

// StartBrowser launches a fresh headless Chromium for the test, or skips
// when it is not installed. The browser resolves no host name: every
// address outside 127.0.0.1 fails, so it can only reach the test's servers.
func StartBrowser(t *testing.T, base string) *Browser {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		t.Skipf("%s is absent: skipping the browser tests (apt-get install chromium)", ChromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ChromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1366, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,AutofillServerCommunication"),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("lang", "en-US"),
		chromedp.Flag("hide-scrollbars", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("chromium does not start: %v", err)
	}
	if err := os.MkdirAll(ScreenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &Browser{T: t, Base: base, ctx: ctx}
}

// fail stops the test with what the page shows.
func (b *Browser) fail(format string, args ...any) {
	b.T.Helper()
	loc, _ := chromedp.Run(b.ctx, chromedp.Location())
	body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	b.T.Fatalf("%s\n  at %s\n  page: %s", fmt.Sprintf(format, args...), loc, strings.Join(strings.Fields(body), " "))
}

// Go loads a path of envoi and waits for the page.
func (b *Browser) Go(path string) {
	b.T.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Navigate(b.Base+path)); err != nil {
		b.fail("navigate to %s: %v", path, err)
	}
}

// Has reports whether the page has an element matching the CSS selector.
func (b *Browser) Has(sel string) bool {
	b.T.Helper()
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`!!document.querySelector(%s)`, jsString(sel))))
	if err != nil {
		b.fail("query %s: %v", sel, err)
	}
	return ok
}

func (b *Browser) need(sel string) {
	b.T.Helper()
	if !b.Has(sel) {
		b.fail("no element %s on the page", sel)
	}
}

// Type types text into an input (after clearing it).
func (b *Browser) Type(sel, text string) {
	b.T.Helper()
	b.need(sel)
	b.Set(sel, "")
	if err := chromedp.Do(b.ctx, chromedp.SendKeys(chromedp.CSS(sel), text)); err != nil {
		b.fail("type into %s: %v", sel, err)
	}
}

// Set sets a field's value as a person would leave it, firing input and
// change (for selects, textareas with line breaks).
func (b *Browser) Set(sel, value string) {
	b.T.Helper()
	b.need(sel)
	js := fmt.Sprintf(`(function(){var el=document.querySelector(%s); el.value=%s;
		el.dispatchEvent(new Event("input",{bubbles:true})); el.dispatchEvent(new Event("change",{bubbles:true})); return el.value;})()`, jsString(sel), jsString(value))
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js)); err != nil {
		b.fail("set %s: %v", sel, err)
	}
}

// Click clicks an element that does not leave the page.
func (b *Browser) Click(sel string) {
	b.T.Helper()
	b.need(sel)
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		b.fail("click %s: %v", sel, err)
	}
}

// Submit clicks a button or link that loads another page, waits for it and
// returns its HTTP status.
func (b *Browser) Submit(sel string) int {
	b.T.Helper()
	b.need(sel)
	invalid, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf(`(function(){var el=document.querySelector(%s), f=el.form, bad=[];
		if (!f) return ""; for (var i=0;i<f.elements.length;i++){var x=f.elements[i]; if (x.willValidate && !x.checkValidity()) bad.push(x.name+": "+x.validationMessage);}
		return bad.join("; ");})()`, jsString(sel))))
	if err != nil || invalid != "" {
		b.fail("the form of %s does not validate: %s %v", sel, invalid, err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.fail("click %s: %v", sel, err)
	}
	return int(resp.Status)
}

// Value returns a field's value.
func (b *Browser) Value(sel string) string {
	b.T.Helper()
	b.need(sel)
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%s).value`, jsString(sel))))
	if err != nil {
		b.fail("value of %s: %v", sel, err)
	}
	return v
}

// Text returns an element's visible text ("" when absent).
func (b *Browser) Text(sel string) string {
	b.T.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf(`(function(){var el=document.querySelector(%s); return el ? el.innerText : "";})()`, jsString(sel))))
	if err != nil {
		b.fail("text of %s: %v", sel, err)
	}
	return v
}

// Path returns the page's path and query.
func (b *Browser) Path() string {
	b.T.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.fail("location: %v", err)
	}
	return strings.TrimPrefix(loc, b.Base)
}

// Wait polls until the element's text contains want, reloading the page
// between polls when reload is set; it fails after a deadline (a wait for
// an outcome, not a measure of speed).
func (b *Browser) Wait(sel, want string, reload bool) {
	b.T.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(b.Text(sel), want) {
		if time.Now().After(deadline) {
			b.fail("%s never showed %q (it shows %q)", sel, want, b.Text(sel))
		}
		time.Sleep(100 * time.Millisecond)
		if reload {
			if err := chromedp.Do(b.ctx, chromedp.Reload()); err != nil {
				b.fail("reload: %v", err)
			}
		}
	}
}

// Upload puts a file into a file input.
func (b *Browser) Upload(sel, path string) {
	b.T.Helper()
	b.need(sel)
	if err := chromedp.Do(b.ctx, chromedp.SetUploadFiles(chromedp.CSS(sel), []string{path})); err != nil {
		b.fail("upload into %s: %v", sel, err)
	}
}

// Eval runs a script in the page.
func (b *Browser) Eval(js string) {
	b.T.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[any](js)); err != nil {
		b.fail("eval: %v", err)
	}
}

// Shot saves a full-page screenshot, numbered in the order taken.
func (b *Browser) Shot(name string) {
	b.T.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.fail("screenshot %s: %v", name, err)
	}
	b.shot++
	path := filepath.Join(ScreenshotDir, fmt.Sprintf("%02d-%s.png", b.shot, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.T.Fatal(err)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// RunEnv runs an envoi command on e's storage with an environment of its
// own (the harness's Run gives commands an empty one).
func RunEnv(e *Env, env map[string]string, args ...string) (string, int) {
	var out syncBuffer
	p := &main.Program{Stdout: &out, Stderr: &out, Getenv: func(k string) string { return env[k] }}
	code := p.Main(context.Background(), e.storageArgs(args...))
	return out.String(), code
}

// TextPart returns the decoded text/plain part of a message.
func TextPart(raw []byte) (string, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", err
	}
	return findText(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
}

func findText(contentType, encoding string, body io.Reader) (string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err != nil {
				return "", fmt.Errorf("no text/plain part: %w", err)
			}
			if s, err := findText(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part); err == nil {
				return s, nil
			}
		}
	}
	if mt != "text/plain" {
		return "", fmt.Errorf("%s is not text/plain", mt)
	}
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	return string(b), err
}
