package ui

import (
	"net/http"
	"strings"

	"envoi"
)

type settingsData struct {
	Sender    string
	Company   string
	Operators []*envoi.Operator
	Companies []*envoi.Company
	// Ready says recovery works as configured; Problem says why not.
	Ready   bool
	Problem *errView
}

func (s *Server) settingsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	set, err := s.Store.Settings(ctx)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	d := settingsData{Sender: set[SettingSystemSender], Company: set[SettingSystemCompany]}
	if d.Operators, err = s.Store.Operators(ctx); err != nil {
		s.renderError(w, r, err)
		return
	}
	if d.Companies, err = s.Store.Companies(ctx); err != nil {
		s.renderError(w, r, err)
		return
	}
	p := s.newPage(w, r, "settings", nil)
	if _, _, perr := s.recoverySender(r); perr != nil {
		d.Problem = &errView{Code: envoi.EUnavailable, Message: s.cat.text(p.Lang, "forgot.not_configured"), Reason: envoi.AsError(perr).Message}
	} else {
		d.Ready = true
	}
	p.D = d
	s.render(w, http.StatusOK, "settings", p)
}

// saveSettings stores the system sender (and company) of the UI's own
// mails; when the password recovery flow has no mail setting yet, it
// writes one in the administrator's language.
func (s *Server) saveSettings(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sender := strings.TrimSpace(r.PostFormValue("system_sender"))
	company := strings.TrimSpace(r.PostFormValue("system_company"))
	if sender != "" {
		if _, err := s.Store.Operator(ctx, sender); err != nil {
			s.failTo(w, r, "/settings", err)
			return
		}
	}
	if company != "" {
		if _, err := s.Store.Company(ctx, company); err != nil {
			s.failTo(w, r, "/settings", err)
			return
		}
	}
	for k, v := range map[string]string{SettingSystemSender: sender, SettingSystemCompany: company} {
		if err := s.Store.PutSetting(ctx, k, v); err != nil {
			s.failTo(w, r, "/settings", err)
			return
		}
	}
	if sender != "" {
		_, err := s.Store.MailSetting(ctx, RecoveryFlow)
		if envoi.ErrorCode(err) == envoi.EMailSettingNotFound {
			lang := s.language(w, r)
			err = s.Store.PutMailSetting(ctx, &envoi.MailSetting{
				DocumentFlow: RecoveryFlow, Priority: envoi.PriorityHigh,
				Subject: s.cat.text(lang, "recovery.subject"), Body: s.cat.text(lang, "recovery.body"),
			})
		}
		if err != nil {
			s.failTo(w, r, "/settings", err)
			return
		}
	}
	s.done(w, r, "/settings", "flash.saved", "")
}
