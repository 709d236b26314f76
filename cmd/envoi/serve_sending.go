package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// sendingFlags registers serve's flags about sending that the storage
// commands do not share: a private CA for an internal SMTP relay, the send
// queue's lease and its bound on claims without an outcome. The returned
// function copies their values (the flag, else its environment variable)
// into cfg once fs is parsed.
func (p *Program) sendingFlags(fs *flag.FlagSet) func(cfg *Config) error {
	caFile := fs.String("smtp-ca-file", "", "PEM file of certificate authorities to trust for SMTP servers, besides the system's: a private CA of an internal relay (env ENVOI_SMTP_CA_FILE)")
	lease := fs.String("queue-lease", "", "how long a send job stays with the worker that took it; after a crash it is sent again once this has passed (env ENVOI_QUEUE_LEASE, default \"2m\")")
	reportsEvery := fs.String("reports-every", "", "how often the sending mailboxes of flows with imap.enabled are read for bounces and read receipts; 0 turns it off (env ENVOI_REPORTS_EVERY, default \"5m\")")
	backoff := fs.String("webhook-backoff", "", "the waits between attempts of a webhook delivery, comma-separated; after the last the delivery is given up (env ENVOI_WEBHOOK_BACKOFF, default \"5s,5m,30m,2h,5h,10h,14h,20h,20h\": about three days)")
	poll := fs.String("webhook-poll", "", "how often an instance looks for webhook deliveries due (env ENVOI_WEBHOOK_POLL, default \"1s\")")
	maxUnfinished := fs.String("queue-max-unfinished", "", "how many sends of one message in a row may end without an outcome (the process died, the lease lapsed) before it fails as delivery_abandoned (env ENVOI_QUEUE_MAX_UNFINISHED, default 3)")
	retention := fs.String("body-retention", "", "how long the body (.eml) of a message sent or failed is kept before serve removes it and gives its space back, e.g. 90d or 12h; the message, its outcome and its archived document stay (env ENVOI_BODY_RETENTION, default: kept for good)")
	return func(cfg *Config) error {
		pick := flagOrEnv(fs, p.Getenv)
		if v := pick("body-retention", "ENVOI_BODY_RETENTION", retention); v != "" && v != "0" && v != "off" {
			d, err := parseRetention(v)
			if err != nil {
				return fmt.Errorf("%w: --body-retention %q is not a duration of at least 1s (e.g. 90d, 12h, or off)", errUsage, v)
			}
			cfg.BodyRetention = d
		}
		cfg.SMTPCAFile = pick("smtp-ca-file", "ENVOI_SMTP_CA_FILE", caFile)
		if v := pick("queue-lease", "ENVOI_QUEUE_LEASE", lease); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second {
				return fmt.Errorf("%w: --queue-lease %q is not a duration of at least 1s (e.g. 2m)", errUsage, v)
			}
			cfg.QueueLease = d
		}
		if v := pick("reports-every", "ENVOI_REPORTS_EVERY", reportsEvery); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 || d > 0 && d < time.Second {
				return fmt.Errorf("%w: --reports-every %q is not 0 or a duration of at least 1s (e.g. 5m)", errUsage, v)
			}
			cfg.ReportsEvery = d
			if d == 0 {
				cfg.ReportsEvery = -1
			}
		}
		if v := pick("queue-max-unfinished", "ENVOI_QUEUE_MAX_UNFINISHED", maxUnfinished); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 100 {
				return fmt.Errorf("%w: --queue-max-unfinished %q is not a number between 1 and 100 (e.g. 3)", errUsage, v)
			}
			cfg.QueueMaxUnfinished = n
		}
		if v := pick("webhook-backoff", "ENVOI_WEBHOOK_BACKOFF", backoff); v != "" {
			if _, err := parseBackoff(v); err != nil {
				return err
			}
			cfg.WebhookBackoff = v
		}
		if v := pick("webhook-poll", "ENVOI_WEBHOOK_POLL", poll); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 10*time.Millisecond {
				return fmt.Errorf("%w: --webhook-poll %q is not a duration of at least 10ms (e.g. 1s)", errUsage, v)
			}
			cfg.WebhookPoll = d
		}
		return nil
	}
}

// parseRetention reads a duration in days ("90d") or as Go writes one
// ("12h", "30m"), of at least a second.
func parseRetention(v string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > 100*365 {
			return 0, fmt.Errorf("bad number of days %q", days)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, err
		}
	}
	if d < time.Second {
		return 0, fmt.Errorf("%s is less than a second", d)
	}
	return d, nil
}

// parseBackoff reads a comma-separated list of durations; nil for "".
func parseBackoff(v string) ([]time.Duration, error) {
	if v == "" {
		return nil, nil
	}
	var out []time.Duration
	for _, part := range strings.Split(v, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%w: --webhook-backoff %q is not a list of durations (e.g. 5s,5m,2h)", errUsage, v)
		}
		out = append(out, d)
	}
	return out, nil
}
