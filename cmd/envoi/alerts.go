package main

import (
	"context"
	"net/url"
	"time"

	"envoi"
	"envoi/ui"
)

// ConsentAlertFlow is the document flow of the mail envoi sends by itself
// when a token dies (seeded with a default mail setting).
const ConsentAlertFlow = "CONSENT_REQUIRED"

// consentAlert tells the administrators, and the operator concerned, that
// an identity must consent again: by e-mail through the system sender chosen
// in the admin UI's settings (the same that sends password recovery). The
// token health screen shows it in any case; without a system sender, or
// when the dead token is the system sender's own, the alert is only logged.
func (a *App) consentAlert(ctx context.Context, key envoi.TokenKey, e *envoi.Error) {
	log := a.Logger.With("flow", key.Flow, "operator", key.Operator)
	log.Warn("token refused by the provider: consent required", "code", e.Code)
	set, err := a.Store.Settings(ctx)
	if err != nil {
		log.Error("consent alert: reading the settings", "err", err)
		return
	}
	sender := set[ui.SettingSystemSender]
	if sender == "" {
		log.Info("consent alert not mailed: no system sender is configured (admin UI, Settings)")
		return
	}
	if flow, err := a.Store.FlowForOperator(ctx, sender); err == nil && flow.Code == key.Flow && (key.Operator == "" || key.Operator == sender) {
		log.Warn("consent alert not mailed: the system sender's own token is the one refused")
		return
	}
	var to []string
	users, err := a.Store.Users(ctx)
	if err != nil {
		log.Error("consent alert: listing the administrators", "err", err)
		return
	}
	for _, u := range users {
		if u.Role == envoi.RoleAdmin {
			to = append(to, u.Email)
		}
	}
	mailbox, link := "", a.Config.PublicURL+"/tokens"
	if key.Operator != "" {
		if op, err := a.Store.Operator(ctx, key.Operator); err == nil {
			mailbox = op.Email
			if op.Email != "" {
				to = append(to, op.Email)
			}
			link = a.Config.PublicURL + "/operators/" + url.PathEscape(key.Operator)
		}
	} else if f, err := a.Store.AuthFlow(ctx, key.Flow); err == nil {
		mailbox = f.GenericMailbox.Email
		link = a.Config.PublicURL + "/auth-flows/" + url.PathEscape(key.Flow)
	}
	if len(to) == 0 {
		log.Info("consent alert not mailed: no administrator account has an address")
		return
	}
	reason := e.Message
	if t, ok := e.Details["provider_text"].(string); ok && t != "" {
		reason = t
	}
	req := &envoi.SendRequest{
		DocumentFlow: ConsentAlertFlow, Operator: sender, Company: set[ui.SettingSystemCompany], To: to,
		Context: map[string]string{"OPERATEUR": key.Operator, "FLUX": key.Flow, "EMAIL": mailbox, "ERREUR": reason, "LIEN": link},
	}
	// One alert per identity and day, however many instances noticed.
	idem := "consent-alert/" + key.Flow + "/" + key.Operator + "/" + time.Now().UTC().Format(time.DateOnly)
	if _, _, err := a.Service.Accept(ctx, req, idem); err != nil && envoi.ErrorCode(err) != envoi.EIdempotencyConflict {
		log.Error("consent alert: could not queue the mail", "err", err)
	}
}
