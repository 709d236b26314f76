package main

import (
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is envoi's configuration. Each field comes from, in order of
// precedence: its flag, its ENVOI_ environment variable, the optional
// configuration file (--config / ENVOI_CONFIG, YAML), the default.
type Config struct {
	Listen      string `yaml:"listen"`
	DataDir     string `yaml:"data_dir"`
	DatabaseURL string `yaml:"database_url"`
	MasterKey   string `yaml:"master_key"`
	PublicURL   string `yaml:"public_url"`
	// MessageIDDomain is the right-hand side of the Message-IDs envoi makes.
	MessageIDDomain string `yaml:"message_id_domain"`
	LogLevel        string `yaml:"log_level"`
	LogFormat       string `yaml:"log_format"`

	// Flags of serve alone (see sendingFlags); not in the file.
	SMTPCAFile string        `yaml:"-"`
	QueueLease time.Duration `yaml:"-"`
	Limits     Limits        `yaml:"-"` // see limitFlags
	// QueueMaxUnfinished is queue.Worker.MaxUnfinished (0: its default).
	QueueMaxUnfinished int `yaml:"-"`
	// Create lets the command set up a new installation: the data
	// directory, the SQLite file and the key file (serve, migrate, admin
	// create). Other commands work on an existing one and say where they
	// looked when there is none.
	Create bool `yaml:"-"`
	// BodyRetention is how long the composed bytes of a message sent or
	// failed are kept (0: for good); serve prunes older ones.
	BodyRetention time.Duration `yaml:"-"`
	// ReportsEvery is the time between two reads of the sending mailboxes
	// for reports (reportwatch.Watcher.Every); negative turns them off.
	ReportsEvery time.Duration `yaml:"-"`
	// WebhookBackoff is webhook.Dispatcher.Backoff as the flag gives it
	// (see parseBackoff; empty: its default, about three days);
	// WebhookPoll its Poll.
	WebhookBackoff string        `yaml:"-"`
	WebhookPoll    time.Duration `yaml:"-"`
}

type setting struct {
	name, env, def, usage string
	field                 func(*Config) *string
}

// settings is the CLI and configuration contract of SPEC.md, in one table.
var settings = []setting{
	{"listen", "ENVOI_LISTEN", "127.0.0.1:8025", "address the HTTP API and admin UI listen on", func(c *Config) *string { return &c.Listen }},
	{"data-dir", "ENVOI_DATA_DIR", "./envoi-data", "directory of the SQLite file, the key file and the archive", func(c *Config) *string { return &c.DataDir }},
	{"database-url", "ENVOI_DATABASE_URL", "", "empty for SQLite in the data directory; postgres://... for PostgreSQL (several instances)", func(c *Config) *string { return &c.DatabaseURL }},
	{"master-key", "ENVOI_MASTER_KEY", "", "32-byte key (base64 or hex) that protects stored secrets; empty: a key file in the data directory, made on first start (0600)", func(c *Config) *string { return &c.MasterKey }},
	{"public-url", "ENVOI_PUBLIC_URL", "", "base URL users reach envoi at (OAuth redirect URIs, links in mails); default http:// + listen address", func(c *Config) *string { return &c.PublicURL }},
	{"message-id-domain", "ENVOI_MESSAGE_ID_DOMAIN", "", "domain of the Message-IDs envoi makes; default the public URL's host name when it is one", func(c *Config) *string { return &c.MessageIDDomain }},
	{"log-level", "ENVOI_LOG_LEVEL", "info", "debug, info, warn or error", func(c *Config) *string { return &c.LogLevel }},
	{"log-format", "ENVOI_LOG_FORMAT", "text", "text or json", func(c *Config) *string { return &c.LogFormat }},
}

// flagOrEnv returns, for fs once parsed, the value of a flag given on the
// command line, else that of its environment variable (from getenv).
func flagOrEnv(fs *flag.FlagSet, getenv func(string) string) func(name, env string, v *string) string {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return func(name, env string, v *string) string {
		if set[name] {
			return *v
		}
		return getenv(env)
	}
}

// storageFlags registers the configuration flags on fs and returns a
// function that resolves the final Config once fs is parsed.
func storageFlags(fs *flag.FlagSet, getenv func(string) string) func() (*Config, error) {
	flagged := map[string]*string{}
	for _, s := range settings {
		flagged[s.name] = fs.String(s.name, "", fmt.Sprintf("%s (env %s, default %q)", s.usage, s.env, s.def))
	}
	configFile := fs.String("config", "", "optional YAML configuration file (env ENVOI_CONFIG) with keys listen, data_dir, database_url, master_key, public_url, log_level, log_format")
	return func() (*Config, error) {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

		var file Config
		path := *configFile
		if path == "" {
			path = getenv("ENVOI_CONFIG")
		}
		if path != "" {
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("config: %w", err)
			}
			dec := yaml.NewDecoder(strings.NewReader(string(b)))
			dec.KnownFields(true)
			if err := dec.Decode(&file); err != nil {
				return nil, fmt.Errorf("config: %w", yamlError(path, err))
			}
		}
		c := &Config{}
		for _, s := range settings {
			v := s.def
			if fv := *s.field(&file); fv != "" {
				v = fv
			}
			if ev := getenv(s.env); ev != "" {
				v = ev
			}
			if set[s.name] {
				v = *flagged[s.name]
			}
			*s.field(c) = v
		}
		if c.PublicURL == "" {
			c.PublicURL = "http://" + c.Listen
		}
		c.PublicURL = strings.TrimRight(c.PublicURL, "/")
		if c.MessageIDDomain == "" {
			c.MessageIDDomain = messageIDDomain(c.PublicURL)
		}
		return c, nil
	}
}

// messageIDDomain derives the Message-ID domain from the public URL: its
// host name when it is a DNS name, else "envoi.invalid" (RFC 2606), which
// never collides with a real host.
func messageIDDomain(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil {
		return "envoi.invalid"
	}
	host := u.Hostname()
	if host == "" || net.ParseIP(host) != nil || host == "localhost" || !strings.Contains(host, ".") {
		return "envoi.invalid"
	}
	return host
}
