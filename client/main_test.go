package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"envoi/internal/testmail"
)

// The examples run against a real envoi: TestMain builds cmd/envoi into a
// temporary directory, starts `envoi serve` on a free loopback port with a
// temporary data directory and a test SMTP server on loopback, configures
// a company, an operator on a basic SMTP flow and the BL mail setting, and
// makes an API key. The examples read envoiURL and apiKey.
var (
	envoiURL string
	apiKey   string
)

func TestMain(m *testing.M) {
	code, err := runWithEnvoi(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "client examples: "+err.Error())
		os.Exit(1)
	}
	os.Exit(code)
}

func runWithEnvoi(m *testing.M) (int, error) {
	tmp, err := os.MkdirTemp("", "envoi-client-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "envoi")
	build := exec.Command("go", "build", "-o", bin, "envoi/cmd/envoi")
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("go build envoi/cmd/envoi: %v\n%s", err, out)
	}

	smtpServer, err := testmail.NewSMTPServer(testmail.SMTPOptions{Users: map[string]string{"erp@example.com": "relay-password"}})
	if err != nil {
		return 0, err
	}
	defer smtpServer.Close()
	ca := filepath.Join(tmp, "smtp-ca.pem")
	if err := os.WriteFile(ca, smtpServer.CAPEM, 0o600); err != nil {
		return 0, err
	}

	data := filepath.Join(tmp, "data")
	// A new installation is set up by migrate (or serve); apikey works on it.
	if out, err := exec.Command(bin, "migrate", "--data-dir", data).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("envoi migrate: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "apikey", "create", "--name", "examples", "--data-dir", data).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("envoi apikey create: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	apiKey = strings.TrimSpace(lines[len(lines)-1])

	addr, err := freeLoopbackAddr()
	if err != nil {
		return 0, err
	}
	envoiURL = "http://" + addr
	var logs bytes.Buffer
	serve := exec.Command(bin, "serve", "--listen", addr, "--data-dir", data, "--public-url", envoiURL,
		"--smtp-ca-file", ca, "--webhook-poll", "50ms")
	serve.Stdout, serve.Stderr = &logs, &logs
	if err := serve.Start(); err != nil {
		return 0, err
	}
	defer func() {
		_ = serve.Process.Signal(syscall.SIGTERM)
		_ = serve.Wait()
	}()
	if err := waitHealthy(envoiURL); err != nil {
		return 0, fmt.Errorf("%v\n%s", err, logs.String())
	}
	if err := configure(smtpServer); err != nil {
		return 0, err
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "envoi serve's log:\n%s\n", logs.String())
	}
	return code, nil
}

// freeLoopbackAddr returns a 127.0.0.1 address a listener got just now.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitHealthy(base string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("envoi serve did not answer /healthz")
}

// configure sets up what the examples send with: company FORTERRO,
// operator jdupont on the basic SMTP flow RELAY (the test server), and the
// BL mail setting.
func configure(s *testmail.SMTPServer) error {
	for _, c := range []struct {
		path string
		body any
	}{
		{"/v1/companies/FORTERRO", map[string]any{"name": "Forterro"}},
		{"/v1/operators/jdupont", map[string]any{"name": "Jeanne Dupont", "email": "erp@example.com", "smtp_password": "relay-password"}},
		{"/v1/auth-flows/RELAY", map[string]any{"kind": "smtp_basic", "smtp": map[string]any{"host": s.Host, "port": s.Port, "security": "starttls"},
			"operators": []string{"jdupont"}}},
		{"/v1/mail-settings/BL", map[string]any{"subject": "[SOCIETE] : Envoi du BL : [ID_BL]", "body": "Bonjour, voici le BL [ID_BL]."}},
	} {
		b, _ := json.Marshal(c.body)
		req, _ := http.NewRequest(http.MethodPut, envoiURL+c.path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		var msg bytes.Buffer
		_, _ = msg.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("PUT %s: %d %s", c.path, resp.StatusCode, msg.String())
		}
	}
	return nil
}
