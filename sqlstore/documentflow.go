package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"envoi"
)

type queryRower interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

// PutDocumentFlow inserts or replaces the document flow of d.Code. A
// built-in flow stays built in; a new one never is. Removing a keyword that
// the flow's mail setting or file-name rule uses is refused with
// EUnknownKeyword naming it; a wrong field is EInvalidInput. With
// d.KeepReport, a stored flow keeps its report, read and written in the
// same statement, and d.Report says which it is.
func (s *Store) PutDocumentFlow(ctx context.Context, d *envoi.DocumentFlow) error {
	d.Keywords = uniq(d.Keywords)
	if err := d.Validate(); err != nil {
		return err
	}
	kw, err := json.Marshal(d.Keywords)
	if err != nil {
		return fmt.Errorf("sqlstore: put document flow %q: %w", d.Code, err)
	}
	now := s.nowUTC()
	var builtin bool
	var report string
	err = s.configTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `
			INSERT INTO document_flows (code, name, keywords, report, builtin, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (code) DO UPDATE SET name = excluded.name, keywords = excluded.keywords,
				report = CASE WHEN $7 THEN document_flows.report ELSE excluded.report END, updated_at = excluded.updated_at
			RETURNING builtin, report`,
			d.Code, d.Name, string(kw), d.Report, false, s.ts(now), d.KeepReport).Scan(&builtin, &report)
		if err != nil {
			return fmt.Errorf("sqlstore: put document flow %q: %w", d.Code, err)
		}
		if ms, err := mailSetting(ctx, tx, d.Code); err == nil {
			if err := d.CheckKeywords(map[string]string{"subject": ms.Subject, "body": ms.Body}); err != nil {
				return keywordInUse(err, "mail setting")
			}
		} else if envoi.ErrorCode(err) != envoi.EMailSettingNotFound {
			return err
		}
		variants, err := mailSettingVariants(ctx, tx, d.Code)
		if err != nil {
			return err
		}
		for _, v := range variants {
			if err := d.CheckKeywords(map[string]string{"subject": v.Subject, "body": v.Body}); err != nil {
				return keywordInUse(err, "mail setting variant")
			}
		}
		if r, err := fileNameRule(ctx, tx, d.Code); err == nil {
			if err := d.CheckKeywords(map[string]string{"pattern": r.Pattern}); err != nil {
				return keywordInUse(err, "file-name rule")
			}
		} else if envoi.ErrorCode(err) != envoi.ENotFound {
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.Builtin, d.UpdatedAt, d.Report = builtin, now, report
	return nil
}

// keywordInUse turns the error of a mail setting's check into the error of
// the document flow that would drop the keyword.
func keywordInUse(err error, what string) error {
	e := envoi.AsError(err)
	k, _ := e.Details["keyword"].(string)
	return envoi.FieldError(envoi.EUnknownKeyword, "keywords", "the %s of this document flow uses [%s] in its %v: keep the keyword or change the %s first", what, k, e.Details["field"], what).WithDetail("keyword", k)
}

const documentFlowColumns = `code, name, keywords, report, builtin, updated_at`

func scanDocumentFlow(row interface{ Scan(...any) error }) (*envoi.DocumentFlow, error) {
	var d envoi.DocumentFlow
	var kw string
	if err := row.Scan(&d.Code, &d.Name, &kw, &d.Report, &d.Builtin, scanTime(&d.UpdatedAt)); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(kw), &d.Keywords); err != nil {
		return nil, fmt.Errorf("keywords of %q: %w", d.Code, err)
	}
	if d.Keywords == nil {
		d.Keywords = []string{}
	}
	return &d, nil
}

func documentFlow(ctx context.Context, q queryRower, code string) (*envoi.DocumentFlow, error) {
	d, err := scanDocumentFlow(q.QueryRowContext(ctx, `SELECT `+documentFlowColumns+` FROM document_flows WHERE code = $1`, code))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("document flow", code).WithDetail("document_flow", code)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: document flow %q: %w", code, err)
	}
	return d, nil
}

// DocumentFlow returns the document flow of that code; ENotFound if none.
func (s *Store) DocumentFlow(ctx context.Context, code string) (*envoi.DocumentFlow, error) {
	return cached(ctx, s, cacheDocumentFlow, code, func() (*envoi.DocumentFlow, error) { return documentFlow(ctx, s.reads(), code) }, cloneDocumentFlow)
}

// DocumentFlows returns the catalogue by code.
func (s *Store) DocumentFlows(ctx context.Context) ([]*envoi.DocumentFlow, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT `+documentFlowColumns+` FROM document_flows ORDER BY code`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: document flows: %w", err)
	}
	defer rows.Close()
	var out []*envoi.DocumentFlow
	for rows.Next() {
		d, err := scanDocumentFlow(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: document flows: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// DeleteDocumentFlow deletes a document flow the administrator added, with
// its mail setting and file-name rule. Returns ENotFound if none and
// EInvalidInput for a built-in flow.
func (s *Store) DeleteDocumentFlow(ctx context.Context, code string) error {
	return s.configTx(ctx, func(tx *sql.Tx) error {
		d, err := documentFlow(ctx, tx, code)
		if err != nil {
			return err
		}
		if d.Builtin {
			return envoi.FieldError(envoi.EInvalidInput, "code", "document flow %s is built in and cannot be deleted", code)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM document_flows WHERE code = $1`, code)
		return affected(res, err, "document flow", code)
	})
}

// PutMailSetting inserts or replaces the mail setting of ms.DocumentFlow.
// Returns EDocumentFlowNotFound for an unknown document flow, EInvalidInput for a wrong
// priority and EUnknownKeyword for a keyword the flow does not declare.
//
// With Company or Language set, ms is a variant, stored beside the
// default (mail_setting_variants); ENotFound for an unknown company.
func (s *Store) PutMailSetting(ctx context.Context, ms *envoi.MailSetting) error {
	now := s.nowUTC()
	err := s.configTx(ctx, func(tx *sql.Tx) error {
		d, err := documentFlow(ctx, tx, ms.DocumentFlow)
		if err != nil {
			return envoi.DocumentFlowNotFound(err, ms.DocumentFlow)
		}
		if err := ms.Validate(d); err != nil {
			return err
		}
		if err := ms.CheckSubject(); err != nil {
			return err
		}
		if ms.IsVariant() {
			return s.putMailSettingVariant(ctx, tx, ms, now)
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO mail_settings (document_flow, subject, body, priority, read_receipt, copy_to_sender, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (document_flow) DO UPDATE SET subject = excluded.subject, body = excluded.body,
				priority = excluded.priority, read_receipt = excluded.read_receipt,
				copy_to_sender = excluded.copy_to_sender, updated_at = excluded.updated_at`,
			ms.DocumentFlow, ms.Subject, ms.Body, ms.Priority, ms.ReadReceipt, ms.CopyToSender, s.ts(now))
		if err != nil {
			return fmt.Errorf("sqlstore: put mail setting %q: %w", ms.DocumentFlow, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	ms.UpdatedAt = now
	return nil
}

const mailSettingColumns = `document_flow, subject, body, priority, read_receipt, copy_to_sender, updated_at`

func scanMailSetting(row interface{ Scan(...any) error }) (*envoi.MailSetting, error) {
	var ms envoi.MailSetting
	err := row.Scan(&ms.DocumentFlow, &ms.Subject, &ms.Body, &ms.Priority, &ms.ReadReceipt, &ms.CopyToSender, scanTime(&ms.UpdatedAt))
	return &ms, err
}

func mailSetting(ctx context.Context, q queryRower, documentFlow string) (*envoi.MailSetting, error) {
	ms, err := scanMailSetting(q.QueryRowContext(ctx, `SELECT `+mailSettingColumns+` FROM mail_settings WHERE document_flow = $1`, documentFlow))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, envoi.Errorf(envoi.EMailSettingNotFound, "no mail setting for document flow %s", documentFlow).WithDetail("document_flow", documentFlow)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: mail setting %q: %w", documentFlow, err)
	}
	return ms, nil
}

// MailSetting returns the mail setting of the document flow;
// EMailSettingNotFound if it has none.
func (s *Store) MailSetting(ctx context.Context, documentFlow string) (*envoi.MailSetting, error) {
	return cached(ctx, s, cacheMailSetting, documentFlow, func() (*envoi.MailSetting, error) { return mailSetting(ctx, s.reads(), documentFlow) }, cloneMailSetting)
}

// MailSettings returns every mail setting by document flow.
func (s *Store) MailSettings(ctx context.Context) ([]*envoi.MailSetting, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT `+mailSettingColumns+` FROM mail_settings ORDER BY document_flow`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: mail settings: %w", err)
	}
	defer rows.Close()
	var out []*envoi.MailSetting
	for rows.Next() {
		ms, err := scanMailSetting(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: mail settings: %w", err)
		}
		out = append(out, ms)
	}
	return out, rows.Err()
}

// DeleteMailSetting deletes the mail setting of the document flow;
// EMailSettingNotFound if it has none.
func (s *Store) DeleteMailSetting(ctx context.Context, documentFlow string) error {
	defer s.cache.drop()
	res, err := s.db.ExecContext(ctx, `DELETE FROM mail_settings WHERE document_flow = $1`, documentFlow)
	if err := affected(res, err, "mail setting", documentFlow); err != nil {
		if envoi.ErrorCode(err) == envoi.ENotFound {
			return envoi.Errorf(envoi.EMailSettingNotFound, "no mail setting for document flow %s", documentFlow).WithDetail("document_flow", documentFlow)
		}
		return err
	}
	return nil
}

// PutFileNameRule inserts or replaces the file-name rule of r.DocumentFlow.
// Returns EDocumentFlowNotFound for an unknown document flow, EInvalidInput for a
// pattern too long and EUnknownKeyword for a keyword the flow lacks.
func (s *Store) PutFileNameRule(ctx context.Context, r *envoi.FileNameRule) error {
	now := s.nowUTC()
	err := s.configTx(ctx, func(tx *sql.Tx) error {
		d, err := documentFlow(ctx, tx, r.DocumentFlow)
		if err != nil {
			return envoi.DocumentFlowNotFound(err, r.DocumentFlow)
		}
		if err := r.Validate(d); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO file_name_rules (document_flow, pattern, archive, file_type, updated_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (document_flow) DO UPDATE SET pattern = excluded.pattern, archive = excluded.archive,
				file_type = excluded.file_type, updated_at = excluded.updated_at`,
			r.DocumentFlow, r.Pattern, r.Archive, r.FileType, s.ts(now))
		if err != nil {
			return fmt.Errorf("sqlstore: put file-name rule %q: %w", r.DocumentFlow, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.UpdatedAt = now
	return nil
}

const fileNameRuleColumns = `document_flow, pattern, archive, file_type, updated_at`

func scanFileNameRule(row interface{ Scan(...any) error }) (*envoi.FileNameRule, error) {
	var r envoi.FileNameRule
	err := row.Scan(&r.DocumentFlow, &r.Pattern, &r.Archive, &r.FileType, scanTime(&r.UpdatedAt))
	return &r, err
}

func fileNameRule(ctx context.Context, q queryRower, documentFlow string) (*envoi.FileNameRule, error) {
	r, err := scanFileNameRule(q.QueryRowContext(ctx, `SELECT `+fileNameRuleColumns+` FROM file_name_rules WHERE document_flow = $1`, documentFlow))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("file-name rule", documentFlow).WithDetail("document_flow", documentFlow)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: file-name rule %q: %w", documentFlow, err)
	}
	return r, nil
}

// FileNameRule returns the file-name rule of the document flow; ENotFound
// if it has none.
func (s *Store) FileNameRule(ctx context.Context, documentFlow string) (*envoi.FileNameRule, error) {
	return cached(ctx, s, cacheFileNameRule, documentFlow, func() (*envoi.FileNameRule, error) { return fileNameRule(ctx, s.reads(), documentFlow) }, cloneFileNameRule)
}

// FileNameRules returns every file-name rule by document flow.
func (s *Store) FileNameRules(ctx context.Context) ([]*envoi.FileNameRule, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT `+fileNameRuleColumns+` FROM file_name_rules ORDER BY document_flow`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: file-name rules: %w", err)
	}
	defer rows.Close()
	var out []*envoi.FileNameRule
	for rows.Next() {
		r, err := scanFileNameRule(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: file-name rules: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteFileNameRule deletes the file-name rule of the document flow;
// ENotFound if it has none.
func (s *Store) DeleteFileNameRule(ctx context.Context, documentFlow string) error {
	defer s.cache.drop()
	res, err := s.db.ExecContext(ctx, `DELETE FROM file_name_rules WHERE document_flow = $1`, documentFlow)
	return affected(res, err, "file-name rule", documentFlow)
}
