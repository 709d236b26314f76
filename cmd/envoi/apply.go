package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"gopkg.in/yaml.v3"

	"envoi"
)

// ConfigFile is the configuration-as-code file of `envoi apply`: every
// configuration object by code, with the API's field names. Secrets are
// never written in it: a *_env field names the environment variable that
// holds them.
type ConfigFile struct {
	Companies     map[string]companyDoc      `yaml:"companies"`
	Groups        map[string]groupDoc        `yaml:"groups"`
	Operators     map[string]operatorDoc     `yaml:"operators"`
	DocumentFlows map[string]documentFlowDoc `yaml:"document_flows"`
	AuthFlows     map[string]authFlowDoc     `yaml:"auth_flows"`
	MailSettings  map[string]mailSettingDoc  `yaml:"mail_settings"`
	FileNames     map[string]fileNameDoc     `yaml:"file_names"`
	Webhooks      map[string]webhookDoc      `yaml:"webhooks"`
}

// webhookDoc is a webhook endpoint. Without secret_env the stored secret
// is kept, or envoi makes one and apply prints it once.
type webhookDoc struct {
	URL       string   `yaml:"url"`
	Events    []string `yaml:"events"`
	SecretEnv string   `yaml:"secret_env"`
}

type companyDoc struct {
	Name       string `yaml:"name"`
	FooterText string `yaml:"footer_text"`
	// SignatureHTML is sanitized when stored, as the API's.
	SignatureHTML string `yaml:"signature_html"`
	LogoFile      string `yaml:"logo_file"` // relative to the config file
	Language      string `yaml:"language"`
	Currency      string `yaml:"currency"`
	Address       string `yaml:"address"`
}

type groupDoc struct {
	Name string `yaml:"name"`
}

type operatorDoc struct {
	Name            string `yaml:"name"`
	Email           string `yaml:"email"`
	Group           string `yaml:"group"`
	FooterText      string `yaml:"footer_text"`
	SignatureHTML   string `yaml:"signature_html"`
	OAuthEnabled    bool   `yaml:"oauth_enabled"`
	Language        string `yaml:"language"`
	SMTPPasswordEnv string `yaml:"smtp_password_env"`
	// ClearSMTPPassword removes the stored password (not with smtp_password_env).
	ClearSMTPPassword bool `yaml:"clear_smtp_password"`
}

type documentFlowDoc struct {
	Name     string   `yaml:"name"`
	Keywords []string `yaml:"keywords"`
	// Report left out keeps the flow's report (a built-in flow's default).
	Report *string `yaml:"report"`
}

// authFlowDoc is a flow's settings, named as in the API, with its secrets
// read from the environment.
type authFlowDoc struct {
	envoi.AuthFlowSettings `yaml:",inline"`
	ClientSecretEnv        string `yaml:"client_secret_env"`
	ServiceAccountKeyEnv   string `yaml:"service_account_key_env"`
}

type mailSettingDoc struct {
	Subject      string `yaml:"subject"`
	Body         string `yaml:"body"`
	Priority     string `yaml:"priority"`
	ReadReceipt  bool   `yaml:"read_receipt"`
	CopyToSender bool   `yaml:"copy_to_sender"`
	// Variants for a company and/or a language; the setting itself, when
	// it has neither subject nor body, is then left as it is.
	Variants []mailSettingVariantDoc `yaml:"variants"`
}

type mailSettingVariantDoc struct {
	Company      string `yaml:"company"`
	Language     string `yaml:"language"`
	Subject      string `yaml:"subject"`
	Body         string `yaml:"body"`
	Priority     string `yaml:"priority"`
	ReadReceipt  bool   `yaml:"read_receipt"`
	CopyToSender bool   `yaml:"copy_to_sender"`
}

type fileNameDoc struct {
	Pattern  string `yaml:"pattern"`
	Archive  bool   `yaml:"archive"`
	FileType string `yaml:"file_type"`
}

func (p *Program) apply(ctx context.Context, args []string) error {
	var file string
	var dryRun bool
	cfg, logger, err := p.setup("apply", "apply -f config.yaml [flags]", args, func(fs *flag.FlagSet) {
		fs.StringVar(&file, "f", "", "configuration file to apply (YAML); required")
		fs.BoolVar(&dryRun, "dry-run", false, "check the file and print what would be applied, change nothing")
	})
	if err != nil {
		return err
	}
	if file == "" {
		return fmt.Errorf("%w: apply needs -f FILE", errUsage)
	}
	doc, err := readConfigFile(file)
	if err != nil {
		return err
	}
	steps, objects, err := doc.steps(filepath.Dir(file), p.Getenv, func(msg string) { fmt.Fprintf(p.Stdout, "warning: %s\n", msg) },
		func(msg string) { fmt.Fprintln(p.Stdout, msg) })
	if err != nil {
		return err
	}
	if dryRun {
		for _, s := range steps {
			fmt.Fprintf(p.Stdout, "would apply %s\n", s.what)
		}
		return nil
	}
	store, err := p.openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer store.Close()
	for _, s := range steps {
		if err := s.apply(ctx, store); err != nil {
			return fmt.Errorf("apply %s: %w", s.what, err)
		}
		fmt.Fprintf(p.Stdout, "applied %s\n", s.what)
	}
	fmt.Fprintf(p.Stdout, "%d objects applied from %s\n", objects, file)
	return nil
}

func readConfigFile(path string) (*ConfigFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var doc ConfigFile
	if err := dec.Decode(&doc); err != nil {
		return nil, yamlError(path, err)
	}
	return &doc, nil
}

type applyStep struct {
	what  string
	apply func(ctx context.Context, s envoi.Store) error
}

func sortedCodes[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// steps turns the file into upserts, in dependency order, reading secrets
// from the environment and files relative to dir; objects is how many
// objects they write (a password is given twice, see below). Every problem
// found before anything is written is reported at once. warn receives
// what an administrator should know about an applied flow (envoi.FlowWarning),
// show what they must see once (a webhook secret envoi made).
func (doc *ConfigFile) steps(dir string, getenv func(string) string, warn, show func(string)) (steps []applyStep, objects int, err error) {
	secretFrom := func(what, env string) (string, error) {
		if env == "" {
			return "", nil
		}
		v := getenv(env)
		if v == "" {
			return "", fmt.Errorf("%s: environment variable %s is empty or unset", what, env)
		}
		return v, nil
	}
	for _, code := range sortedCodes(doc.Companies) {
		d := doc.Companies[code]
		c := &envoi.Company{Code: code, Name: d.Name, FooterText: d.FooterText, SignatureHTML: d.SignatureHTML, Language: d.Language, Currency: d.Currency, Address: d.Address}
		if d.LogoFile != "" {
			path := d.LogoFile
			if !filepath.IsAbs(path) {
				path = filepath.Join(dir, path)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, 0, fmt.Errorf("company %s: logo_file: %w", code, err)
			}
			typ, err := envoi.CheckLogo(b)
			if err != nil {
				return nil, 0, fmt.Errorf("company %s: logo_file: %w", code, err)
			}
			c.Logo, c.LogoType = b, typ
		}
		if err := c.Validate(); err != nil {
			return nil, 0, fmt.Errorf("company %s: %w", code, err)
		}
		steps = append(steps, applyStep{"company " + code, func(ctx context.Context, s envoi.Store) error { return s.PutCompany(ctx, c) }})
	}
	for _, code := range sortedCodes(doc.Groups) {
		g := &envoi.Group{Code: code, Name: doc.Groups[code].Name}
		steps = append(steps, applyStep{"group " + code, func(ctx context.Context, s envoi.Store) error { return s.PutGroup(ctx, g) }})
	}
	// Passwords given by the file are given again once the flows are
	// applied: a flow the file re-points drops the passwords bound to its
	// old SMTP server, and the file's are for the new one.
	var passwords []applyStep
	for _, code := range sortedCodes(doc.Operators) {
		d := doc.Operators[code]
		pw, err := secretFrom("operator "+code+": smtp_password_env", d.SMTPPasswordEnv)
		if err != nil {
			return nil, 0, err
		}
		o := &envoi.Operator{Code: code, Name: d.Name, Email: d.Email, Group: d.Group, FooterText: d.FooterText,
			SignatureHTML: d.SignatureHTML, OAuthEnabled: d.OAuthEnabled, Language: d.Language, SMTPPassword: pw,
			ClearSMTPPassword: d.ClearSMTPPassword}
		if err := o.Validate(); err != nil {
			return nil, 0, fmt.Errorf("operator %s: %w", code, err)
		}
		steps = append(steps, applyStep{"operator " + code, func(ctx context.Context, s envoi.Store) error { return s.PutOperator(ctx, o) }})
		if pw != "" {
			passwords = append(passwords, applyStep{"SMTP password of operator " + code, func(ctx context.Context, s envoi.Store) error {
				again := *o
				return s.PutOperator(ctx, &again)
			}})
		}
	}
	for _, code := range sortedCodes(doc.DocumentFlows) {
		d := doc.DocumentFlows[code]
		df := &envoi.DocumentFlow{Code: code, Name: d.Name, Keywords: d.Keywords, KeepReport: d.Report == nil}
		if d.Report != nil {
			df.Report = *d.Report
		}
		if err := df.Validate(); err != nil {
			return nil, 0, fmt.Errorf("document flow %s: %w", code, err)
		}
		steps = append(steps, applyStep{"document flow " + code, func(ctx context.Context, s envoi.Store) error { return s.PutDocumentFlow(ctx, df) }})
	}
	if len(doc.AuthFlows) > 0 {
		steps = append(steps, doc.moves(warn))
	}
	for _, code := range sortedCodes(doc.AuthFlows) {
		d := doc.AuthFlows[code]
		secret, err := secretFrom("auth flow "+code+": client_secret_env", d.ClientSecretEnv)
		if err != nil {
			return nil, 0, err
		}
		sa, err := secretFrom("auth flow "+code+": service_account_key_env", d.ServiceAccountKeyEnv)
		if err != nil {
			return nil, 0, err
		}
		f := d.AuthFlow(code, secret, sa)
		steps = append(steps, applyStep{"auth flow " + code, func(ctx context.Context, s envoi.Store) error {
			if err := s.PutAuthFlow(ctx, f); err != nil {
				return err
			}
			for _, w := range append([]envoi.FlowWarning{f.Dropped}, f.Warnings()...) {
				if w.Code != "" {
					warn("auth flow " + code + ": " + w.Message)
				}
			}
			return nil
		}})
	}
	steps = append(steps, passwords...)
	for _, code := range sortedCodes(doc.MailSettings) {
		d := doc.MailSettings[code]
		if d.Subject != "" || d.Body != "" || len(d.Variants) == 0 {
			m := &envoi.MailSetting{DocumentFlow: code, Subject: d.Subject, Body: d.Body, Priority: d.Priority, ReadReceipt: d.ReadReceipt, CopyToSender: d.CopyToSender}
			steps = append(steps, applyStep{"mail setting " + code, func(ctx context.Context, s envoi.Store) error { return s.PutMailSetting(ctx, m) }})
		}
		for _, v := range d.Variants {
			if v.Company == "" && v.Language == "" {
				return nil, 0, fmt.Errorf("mail setting %s: a variant needs a company or a language", code)
			}
			m := &envoi.MailSetting{DocumentFlow: code, Company: v.Company, Language: v.Language, Subject: v.Subject, Body: v.Body,
				Priority: v.Priority, ReadReceipt: v.ReadReceipt, CopyToSender: v.CopyToSender}
			name := fmt.Sprintf("mail setting %s (company %q, language %q)", code, v.Company, v.Language)
			steps = append(steps, applyStep{name, func(ctx context.Context, s envoi.Store) error { return s.PutMailSetting(ctx, m) }})
		}
	}
	for _, code := range sortedCodes(doc.FileNames) {
		d := doc.FileNames[code]
		r := &envoi.FileNameRule{DocumentFlow: code, Pattern: d.Pattern, Archive: d.Archive, FileType: d.FileType}
		steps = append(steps, applyStep{"file name " + code, func(ctx context.Context, s envoi.Store) error { return s.PutFileNameRule(ctx, r) }})
	}
	var errs []error
	for _, code := range sortedCodes(doc.Webhooks) {
		d := doc.Webhooks[code]
		sec, err := secretFrom("webhook "+code+" secret_env", d.SecretEnv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		w := &envoi.Webhook{Code: code, URL: d.URL, Events: d.Events, Secret: sec}
		if err := w.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("webhook %s: %w", code, err))
			continue
		}
		steps = append(steps, applyStep{"webhook " + code, func(ctx context.Context, s envoi.Store) error {
			if err := s.PutWebhook(ctx, w); err != nil {
				return err
			}
			if sec == "" && w.Secret != "" {
				show(fmt.Sprintf("webhook %s: its new secret, shown this once: %s", code, w.Secret))
			}
			return nil
		}})
	}
	if len(errs) > 0 {
		return nil, 0, errors.Join(errs...)
	}
	moves := 0
	if len(doc.AuthFlows) > 0 {
		moves = 1
	}
	return steps, len(steps) - len(passwords) - moves, nil
}

// moves is the step that lets a file move an operator or a group from one
// flow to another: each one the file puts in a flow first leaves the flow
// it is in now, whether the file names that flow or not (an operator is in
// one flow at most, and the file says which). Without it the flows would
// have to be applied in an order that frees each one before it is taken,
// and a swap would have none. It counts as no object of its own.
func (doc *ConfigFile) moves(say func(string)) applyStep {
	placed := map[string]string{} // "operator x" or "group g" -> the file's flow
	for _, code := range sortedCodes(doc.AuthFlows) {
		for _, o := range doc.AuthFlows[code].Operators {
			placed["operator "+o] = code
		}
		for _, g := range doc.AuthFlows[code].Groups {
			placed["group "+g] = code
		}
	}
	return applyStep{"moves between flows", func(ctx context.Context, s envoi.Store) error {
		flows, err := s.AuthFlows(ctx)
		if err != nil {
			return err
		}
		for _, f := range flows {
			keep := func(kind string, codes []string) []string {
				out := codes[:0:0]
				for _, c := range codes {
					if to, ok := placed[kind+" "+c]; ok && to != f.Code {
						say(fmt.Sprintf("%s %s moves from flow %s to flow %s", kind, c, f.Code, to))
						continue
					}
					out = append(out, c)
				}
				return out
			}
			ops, groups := keep("operator", f.Operators), keep("group", f.Groups)
			if len(ops) == len(f.Operators) && len(groups) == len(f.Groups) {
				continue
			}
			f.Operators, f.Groups = ops, groups
			if err := s.PutAuthFlow(ctx, f); err != nil {
				return fmt.Errorf("flow %s: %w", f.Code, err)
			}
		}
		return nil
	}}
}
