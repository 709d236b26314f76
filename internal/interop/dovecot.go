package interop

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// DovecotOptions configure a Dovecot submission server.
type DovecotOptions struct {
	// Users are the passwd-file users (address → password) for PLAIN and
	// LOGIN.
	Users map[string]string
	// IntrospectionURL is the provider's RFC 7662 endpoint, with the
	// resource server's client credentials in its user info.
	IntrospectionURL string
	// Mechanisms are the SASL mechanisms offered after STARTTLS (default
	// PLAIN LOGIN XOAUTH2 OAUTHBEARER).
	Mechanisms []string
	// Relay is the smtp-sink messages are relayed to.
	Relay *Sink
	// SameCertAs, when set, reuses that server's certificate (one CA file
	// for envoi to trust).
	SameCertAs *Dovecot
	// IMAP also serves the users' mailboxes over IMAP (implicit TLS, on
	// IMAPPort), with the same passdbs; Deliver puts mail in them.
	IMAP bool
}

// Dovecot is a running Dovecot submission server on DovecotHost.
type Dovecot struct {
	Host string
	Port int
	// IMAPPort is the IMAP listener's (TLS from the first byte), 0
	// without DovecotOptions.IMAP.
	IMAPPort int
	// CAFile is the PEM of its self-signed certificate, for envoi's
	// --smtp-ca-file.
	CAFile   string
	logPath  string
	confFile string
	certPEM  string
	keyPEM   string
	proc     *process
}

// StartDovecot writes a configuration in a directory of its own and runs
// `dovecot -F` on it: submission only, STARTTLS required, no trusted
// networks, a passwd-file passdb for PLAIN/LOGIN and an oauth2 passdb that
// introspects bearer tokens, relaying to opts.Relay.
func StartDovecot(tb testing.TB, opts DovecotOptions) *Dovecot {
	tb.Helper()
	dir := sharedDir(tb, "envoi-dovecot-")
	d := &Dovecot{Host: DovecotHost, logPath: filepath.Join(dir, "dovecot.log")}
	d.Port = FreePort(tb, d.Host)
	if opts.SameCertAs != nil {
		d.certPEM, d.keyPEM = opts.SameCertAs.certPEM, opts.SameCertAs.keyPEM
	} else {
		d.certPEM, d.keyPEM = selfSigned(tb, d.Host)
	}
	certPEM, keyPEM := d.certPEM, d.keyPEM
	d.CAFile = filepath.Join(dir, "ca.pem")
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			tb.Fatal(err)
		}
		return p
	}
	write("ca.pem", certPEM, 0o644)
	cert := write("cert.pem", certPEM, 0o644)
	key := write("key.pem", keyPEM, 0o600) // read by the master, as root
	var passwd strings.Builder
	names := make([]string, 0, len(opts.Users))
	for u := range opts.Users {
		names = append(names, u)
	}
	sort.Strings(names)
	for _, u := range names {
		fmt.Fprintf(&passwd, "%s:{PLAIN}%s\n", u, opts.Users[u])
	}
	// The auth process runs unprivileged: these two must be readable by it.
	passwdFile := write("passwd", passwd.String(), 0o644)
	oauthConf := write("oauth2.conf", fmt.Sprintf(`introspection_mode = post
introspection_url = %s
username_attribute = email
active_attribute = active
active_value = true
`, opts.IntrospectionURL), 0o644)
	mechs := opts.Mechanisms
	if len(mechs) == 0 {
		mechs = []string{"plain", "login", "xoauth2", "oauthbearer"}
	}
	var oauthMechs []string
	for _, m := range mechs {
		if m = strings.ToLower(m); m == "xoauth2" || m == "oauthbearer" {
			oauthMechs = append(oauthMechs, m)
		}
	}
	oauthPassdb := ""
	if len(oauthMechs) > 0 {
		oauthPassdb = fmt.Sprintf("passdb {\n  driver = oauth2\n  mechanisms = %s\n  args = %s\n}\n", strings.Join(oauthMechs, " "), oauthConf)
	}
	internal, login, uid, gid, chroot := "dovecot", "dovenull", "dovecot", "dovecot", ""
	if os.Geteuid() != 0 {
		// Unprivileged: every process runs as the current user, without
		// chroot.
		u, err := user.Current()
		if err != nil {
			tb.Fatal(err)
		}
		internal, login, uid, gid, chroot = u.Username, u.Username, u.Uid, u.Gid, "chroot = "
	}
	protocols, imapServices := "submission", ""
	if opts.IMAP {
		// The mailboxes are written by the userdb's user (dovecot under
		// root).
		for _, sub := range []string{"mail", "home"} {
			p := filepath.Join(dir, sub)
			if err := os.Mkdir(p, 0o777); err != nil {
				tb.Fatal(err)
			}
			_ = os.Chmod(p, 0o777)
		}
		d.IMAPPort = FreePort(tb, d.Host)
		protocols = "submission imap"
		imapServices = fmt.Sprintf(`service imap-login {
  %[1]s
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    address = %[2]s
    port = %[3]d
    ssl = yes
  }
}
service imap {
  %[1]s
}
`, chroot, d.Host, d.IMAPPort)
	}
	conf := fmt.Sprintf(`# written by envoi's interoperability tests
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[2]s
instance_name = envoi-interop-%[3]d
protocols = %[18]s
listen = %[4]s
postmaster_address = postmaster@dovecot.test
ssl = required
ssl_cert = <%[5]s
ssl_key = <%[6]s
disable_plaintext_auth = yes
login_trusted_networks =
auth_mechanisms = %[7]s
auth_verbose = yes
auth_cache_size = 0
hostname = dovecot.test
default_internal_user = %[8]s
default_login_user = %[9]s
first_valid_uid = 1
mail_location = maildir:%[1]s/mail/%%u
submission_relay_host = %[10]s
submission_relay_port = %[11]d
submission_relay_ssl = no
service submission-login {
  %[14]s
  inet_listener submission {
    address = %[4]s
    port = %[3]d
  }
}
service submission {
  %[14]s
}
%[19]spassdb {
  driver = passwd-file
  args = scheme=PLAIN %[12]s
  mechanisms = plain login
}
%[13]s%[15]suserdb {
  driver = static
  args = uid=%[16]s gid=%[17]s home=%[1]s/home/%%u allow_all_users=yes
}
`, dir, d.logPath, d.Port, d.Host, cert, key, strings.Join(mechs, " "), internal, login,
		opts.Relay.Host, opts.Relay.Port, passwdFile, "", chroot, oauthPassdb, uid, gid, protocols, imapServices)
	confFile := write("dovecot.conf", conf, 0o644)
	d.confFile = confFile
	d.proc = start(tb, "dovecot", nil, "dovecot", "-F", "-c", confFile)
	waitDial(tb, d.proc, net.JoinHostPort(d.Host, strconv.Itoa(d.Port)))
	if d.IMAPPort != 0 {
		waitDial(tb, d.proc, net.JoinHostPort(d.Host, strconv.Itoa(d.IMAPPort)))
	}
	return d
}

// Deliver puts a message in user's INBOX as an MTA does, through
// Dovecot's LDA (dovecot-lda -d user), envelope sender from.
func (d *Dovecot) Deliver(tb testing.TB, user, from string, msg []byte) {
	tb.Helper()
	cmd := exec.Command(dovecotLDA, "-c", d.confFile, "-d", user, "-f", from)
	cmd.Stdin = bytes.NewReader(msg)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("dovecot-lda -d %s: %v\n%s\n%s", user, err, out, d.Log())
	}
}

// dovecotLDA is where Debian installs Dovecot's local delivery agent.
const dovecotLDA = "/usr/lib/dovecot/dovecot-lda"

// Flags returns each message of user's INBOX as "uid flags" lines, as
// doveadm fetch lists them (read by doveadm, not over IMAP).
func (d *Dovecot) Flags(tb testing.TB, user string) []string {
	tb.Helper()
	out, err := exec.Command("doveadm", "-c", d.confFile, "-f", "tab", "fetch", "-u", user, "uid flags", "mailbox", "INBOX", "all").CombinedOutput()
	if err != nil {
		tb.Fatalf("doveadm fetch: %v\n%s", err, out)
	}
	var lines []string
	for i, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if i > 0 && l != "" { // the first line names the columns
			lines = append(lines, l)
		}
	}
	return lines
}

// RenumberUIDs gives user's INBOX a new UIDVALIDITY (doveadm mailbox
// update): a client's remembered UIDs no longer hold.
func (d *Dovecot) RenumberUIDs(tb testing.TB, user string, validity uint32) {
	tb.Helper()
	out, err := exec.Command("doveadm", "-c", d.confFile, "mailbox", "update", "-u", user, "--uid-validity", strconv.FormatUint(uint64(validity), 10), "INBOX").CombinedOutput()
	if err != nil {
		tb.Fatalf("doveadm mailbox update: %v\n%s", err, out)
	}
}

// SetFlags adds flags to the message uid of user's INBOX (doveadm).
func (d *Dovecot) SetFlags(tb testing.TB, user string, uid int, flags string) {
	tb.Helper()
	out, err := exec.Command("doveadm", "-c", d.confFile, "flags", "add", "-u", user, flags, "mailbox", "INBOX", "uid", strconv.Itoa(uid)).CombinedOutput()
	if err != nil {
		tb.Fatalf("doveadm flags add: %v\n%s", err, out)
	}
}

// Log returns Dovecot's log so far.
func (d *Dovecot) Log() string {
	b, _ := os.ReadFile(d.logPath)
	return string(b)
}

// Login is one successful authentication Dovecot logged.
type Login struct {
	User, Method, RemoteIP, Session string
	TLS                             bool
}

var loginLine = regexp.MustCompile(`submission-login: Info: Login: user=<([^>]*)>, method=([A-Z0-9-]+), rip=([^,]+), lip=[^,]+,.*session=<([^>]+)>`)

// Logins returns the successful logins in Dovecot's log, oldest first.
func (d *Dovecot) Logins() []Login {
	var out []Login
	for _, line := range strings.Split(d.Log(), "\n") {
		m := loginLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		out = append(out, Login{User: m[1], Method: m[2], RemoteIP: m[3], Session: m[4], TLS: strings.Contains(line, ", TLS, ")})
	}
	return out
}

// selfSigned makes a certificate for an IP address that is its own
// authority, and its key, in PEM.
func selfSigned(tb testing.TB, host string) (certPEM, keyPEM string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "envoi interop " + host},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP(host)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
}
