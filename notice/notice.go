// Package notice holds the mail envoi sends by itself, not asked by the
// ERP: today the consent alert, when an identity's token dies. A notice is
// queued like any message, through the system sender chosen in the admin
// UI's settings, so it is retried, logged and shown like the others.
package notice

import (
	"context"
	"log/slog"
	"net/url"
	"time"

	"envoi"
)

// ConsentAlertFlow is the document flow of the consent alert (seeded with
// a default mail setting).
const ConsentAlertFlow = "CONSENT_REQUIRED"

// Store is what notices read: the settings (the system sender), the
// administrators, and the identity concerned (sqlstore.Store implements it).
type Store interface {
	Settings(ctx context.Context) (map[string]string, error)
	Users(ctx context.Context) ([]*envoi.User, error)
	Operator(ctx context.Context, code string) (*envoi.Operator, error)
	AuthFlow(ctx context.Context, code string) (*envoi.AuthFlow, error)
	FlowForOperator(ctx context.Context, operator string) (*envoi.AuthFlow, error)
}

// Messages queues a notice (queue.Service implements it).
type Messages interface {
	Accept(ctx context.Context, req *envoi.SendRequest, idempotencyKey string) (*envoi.Message, bool, error)
}

// ConsentAlerts tells the administrators, and the operator concerned, that
// an identity must consent again. Store and Messages are required;
// PublicURL is envoi's base URL, for the link in the mail; Now and Logger
// default to time.Now and a logger that discards.
type ConsentAlerts struct {
	Store     Store
	Messages  Messages
	PublicURL string
	Now       func() time.Time
	Logger    *slog.Logger
}

// Notify alerts about key, whose token the provider refused with e; its
// signature is oauth.Service's Notify. It mails through the system sender;
// without one, or when the dead token is the system sender's own, or when
// no administrator has an address, the alert is only logged (the token
// health screen shows it in any case). One alert is queued per identity
// and day, however many instances noticed. Failures are logged.
func (a *ConsentAlerts) Notify(ctx context.Context, key envoi.TokenKey, e *envoi.Error) {
	log := a.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("flow", key.Flow, "operator", key.Operator)
	log.Warn("token refused by the provider: consent required", "code", e.Code)
	set, err := a.Store.Settings(ctx)
	if err != nil {
		log.Error("consent alert: reading the settings", "err", err)
		return
	}
	sender := set[envoi.SettingSystemSender]
	if sender == "" {
		log.Info("consent alert not mailed: no system sender is configured (admin UI, Settings)")
		return
	}
	if flow, err := a.Store.FlowForOperator(ctx, sender); err == nil && flow.Code == key.Flow && (key.Operator == "" || key.Operator == sender) {
		log.Warn("consent alert not mailed: the system sender's own token is the one refused")
		return
	}
	// Each recipient reads the alert in their language: an administrator's
	// account language, the operator's; without one, the system company's
	// (the composer's fallback), else the default text.
	var to []recipient
	users, err := a.Store.Users(ctx)
	if err != nil {
		log.Error("consent alert: listing the administrators", "err", err)
		return
	}
	for _, u := range users {
		if u.Role == envoi.RoleAdmin {
			to = append(to, recipient{u.Email, u.Language})
		}
	}
	mailbox, link := "", a.PublicURL+"/tokens"
	if key.Operator != "" {
		if op, err := a.Store.Operator(ctx, key.Operator); err == nil {
			mailbox = op.Email
			if op.Email != "" {
				to = append(to, recipient{op.Email, op.Language})
			}
			link = a.PublicURL + "/operators/" + url.PathEscape(key.Operator)
		}
	} else if f, err := a.Store.AuthFlow(ctx, key.Flow); err == nil {
		mailbox = f.GenericMailbox.Email
		link = a.PublicURL + "/auth-flows/" + url.PathEscape(key.Flow)
	}
	if len(to) == 0 {
		log.Info("consent alert not mailed: no administrator account has an address")
		return
	}
	reason := e.Message
	if t, ok := e.Details["provider_text"].(string); ok && t != "" {
		reason = t
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	// One mail per language, to the recipients who read it.
	var languages []string
	byLanguage := map[string][]string{}
	for _, r := range to {
		if _, ok := byLanguage[r.language]; !ok {
			languages = append(languages, r.language)
		}
		byLanguage[r.language] = append(byLanguage[r.language], r.email)
	}
	for _, lang := range languages {
		req := &envoi.SendRequest{
			DocumentFlow: ConsentAlertFlow, Operator: sender, Company: set[envoi.SettingSystemCompany], To: byLanguage[lang], Language: lang,
			Context: map[string]string{"OPERATEUR": key.Operator, "FLUX": key.Flow, "EMAIL": mailbox, "ERREUR": reason, "LIEN": link},
		}
		idem := "consent-alert/" + key.Flow + "/" + key.Operator + "/" + now().UTC().Format(time.DateOnly)
		if lang != "" {
			idem += "/" + lang
		}
		if _, _, err := a.Messages.Accept(ctx, req, idem); err != nil && envoi.ErrorCode(err) != envoi.EIdempotencyConflict {
			log.Error("consent alert: could not queue the mail", "language", lang, "err", err)
		}
	}
}

// recipient is an address of the consent alert and the language its
// reader reads ("" when unknown).
type recipient struct{ email, language string }
