package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"envoi"
)

// putMailSettingVariant stores a variant of a mail setting in tx, ms
// validated already.
func (s *Store) putMailSettingVariant(ctx context.Context, tx *sql.Tx, ms *envoi.MailSetting, now time.Time) error {
	if ms.Company != "" {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM companies WHERE code = $1`, ms.Company).Scan(&n); err != nil {
			return fmt.Errorf("sqlstore: company %q: %w", ms.Company, err)
		}
		if n == 0 {
			return notFound("company", ms.Company).WithDetail("field", "company")
		}
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO mail_setting_variants (document_flow, company, language, subject, body, priority, read_receipt, copy_to_sender, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (document_flow, company, language) DO UPDATE SET subject = excluded.subject, body = excluded.body,
			priority = excluded.priority, read_receipt = excluded.read_receipt,
			copy_to_sender = excluded.copy_to_sender, updated_at = excluded.updated_at`,
		ms.DocumentFlow, ms.Company, ms.Language, ms.Subject, ms.Body, ms.Priority, ms.ReadReceipt, ms.CopyToSender, s.ts(now))
	if err != nil {
		return fmt.Errorf("sqlstore: put mail setting variant %q (%q, %q): %w", ms.DocumentFlow, ms.Company, ms.Language, err)
	}
	return nil
}

const variantColumns = `document_flow, company, language, subject, body, priority, read_receipt, copy_to_sender, updated_at`

func scanVariant(row interface{ Scan(...any) error }) (*envoi.MailSetting, error) {
	var ms envoi.MailSetting
	err := row.Scan(&ms.DocumentFlow, &ms.Company, &ms.Language, &ms.Subject, &ms.Body, &ms.Priority, &ms.ReadReceipt, &ms.CopyToSender, scanTime(&ms.UpdatedAt))
	return &ms, err
}

func variantNotFound(documentFlow, company, language string) *envoi.Error {
	return envoi.Errorf(envoi.EMailSettingNotFound, "no mail setting for document flow %s, company %q, language %q", documentFlow, company, language).
		WithDetail("document_flow", documentFlow).WithDetail("company", company).WithDetail("language", language)
}

func mailSettingVariant(ctx context.Context, q queryRower, documentFlow, company, language string) (*envoi.MailSetting, error) {
	ms, err := scanVariant(q.QueryRowContext(ctx, `SELECT `+variantColumns+` FROM mail_setting_variants
		WHERE document_flow = $1 AND company = $2 AND language = $3`, documentFlow, company, language))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, variantNotFound(documentFlow, company, language)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: mail setting variant %q: %w", documentFlow, err)
	}
	return ms, nil
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func mailSettingVariants(ctx context.Context, q queryer, documentFlow string) ([]*envoi.MailSetting, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+variantColumns+` FROM mail_setting_variants
		WHERE $1 = '' OR document_flow = $1 ORDER BY document_flow, company, language`, documentFlow)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: mail setting variants: %w", err)
	}
	defer rows.Close()
	out := []*envoi.MailSetting{}
	for rows.Next() {
		ms, err := scanVariant(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: mail setting variants: %w", err)
		}
		out = append(out, ms)
	}
	return out, rows.Err()
}

// MailSettingVariant returns the variant of the document flow's mail
// setting for company and language exactly ("" for any); with both empty,
// the default. EMailSettingNotFound when there is none.
func (s *Store) MailSettingVariant(ctx context.Context, documentFlow, company, language string) (*envoi.MailSetting, error) {
	if company == "" && language == "" {
		return s.MailSetting(ctx, documentFlow)
	}
	return mailSettingVariant(ctx, s.reads(), documentFlow, company, language)
}

// MailSettingVariants returns the variants of the document flow's mail
// setting, or of every flow's for "", by flow, company and language.
func (s *Store) MailSettingVariants(ctx context.Context, documentFlow string) ([]*envoi.MailSetting, error) {
	return mailSettingVariants(ctx, s.reads(), documentFlow)
}

// DeleteMailSettingVariant deletes a variant; with company and language
// both empty, the default (DeleteMailSetting). EMailSettingNotFound when
// there is none.
func (s *Store) DeleteMailSettingVariant(ctx context.Context, documentFlow, company, language string) error {
	if company == "" && language == "" {
		return s.DeleteMailSetting(ctx, documentFlow)
	}
	defer s.cache.drop()
	res, err := s.db.ExecContext(ctx, `DELETE FROM mail_setting_variants WHERE document_flow = $1 AND company = $2 AND language = $3`,
		documentFlow, company, language)
	if err := affected(res, err, "mail setting variant", documentFlow); err != nil {
		if envoi.ErrorCode(err) == envoi.ENotFound {
			return variantNotFound(documentFlow, company, language)
		}
		return err
	}
	return nil
}

// ChooseMailSetting returns the mail setting a request of company in
// language uses: the first of envoi.MailSettingChoices that exists, the
// default last (its Company and Language say which). language is a BCP 47
// tag, matched by its primary subtag. EMailSettingNotFound when none
// applies. Cached like MailSetting.
func (s *Store) ChooseMailSetting(ctx context.Context, documentFlow, company, language string) (*envoi.MailSetting, error) {
	if language != "" {
		l, err := envoi.MailLanguage(language)
		if err != nil {
			return nil, err
		}
		language = l
	}
	key := documentFlow + "\x00" + company + "\x00" + language
	return cached(ctx, s, cacheMailSettingChoice, key, func() (*envoi.MailSetting, error) {
		for _, c := range envoi.MailSettingChoices(company, language) {
			var ms *envoi.MailSetting
			var err error
			if c[0] == "" && c[1] == "" {
				ms, err = mailSetting(ctx, s.reads(), documentFlow)
			} else {
				ms, err = mailSettingVariant(ctx, s.reads(), documentFlow, c[0], c[1])
			}
			if envoi.ErrorCode(err) == envoi.EMailSettingNotFound {
				continue
			}
			return ms, err
		}
		return nil, envoi.Errorf(envoi.EMailSettingNotFound, "no mail setting for document flow %s", documentFlow).WithDetail("document_flow", documentFlow)
	}, cloneMailSetting)
}
