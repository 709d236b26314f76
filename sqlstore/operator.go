package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"envoi"
)

// PutOperator inserts or replaces the operator of o.Code. An empty
// o.SMTPPassword keeps the stored one (o.ClearSMTPPassword removes it), unless the change moves the operator
// into a flow whose SMTP server is not the one the password is bound to:
// it is then dropped (see PutAuthFlow). The group is created if it does not
// exist. Returns EInvalidInput naming the wrong field, and EInvalidFlowData
// naming the other flow when the new group is assigned to a flow other than
// the one the operator is in directly. The signature is stored as
// Options.SanitizeHTML cleans it, and o.SignatureHTML is set to what was
// stored.
func (s *Store) PutOperator(ctx context.Context, o *envoi.Operator) error {
	if s.sanitize != nil {
		o.SignatureHTML = s.sanitize(o.SignatureHTML)
	}
	if err := o.Validate(); err != nil {
		return err
	}
	if o.SMTPPassword != "" {
		if err := s.ensureKeys(ctx); err != nil {
			return err
		}
	}
	now := s.nowUTC()
	var pwSet bool
	var was string
	err := s.configTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAssignments(ctx, tx); err != nil {
			return err
		}
		var group any
		if o.Group != "" {
			group = o.Group
			if _, err := tx.ExecContext(ctx, `INSERT INTO operator_groups (code, name, updated_at) VALUES ($1, $1, $2) ON CONFLICT (code) DO NOTHING`, o.Group, s.ts(now)); err != nil {
				return fmt.Errorf("sqlstore: create group %q: %w", o.Group, err)
			}
			direct, err := flowOf(ctx, tx, `SELECT flow FROM auth_flow_operators WHERE operator = $1`, o.Code)
			if err != nil {
				return err
			}
			viaGroup, err := flowOf(ctx, tx, `SELECT flow FROM auth_flow_groups WHERE group_code = $1`, o.Group)
			if err != nil {
				return err
			}
			if direct != "" && viaGroup != "" && direct != viaGroup {
				return envoi.FieldError(envoi.EInvalidFlowData, "group",
					"operator %s is assigned to flow %s, and group %s to flow %s: an operator belongs to one flow; remove them from one of the two",
					o.Code, direct, o.Group, viaGroup).WithDetail("flow", viaGroup).WithDetail("operator", o.Code)
			}
		}
		pw, err := s.seal(o.SMTPPassword, aad("operators", "smtp_password", o.Code))
		if err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, `
			INSERT INTO operators (code, name, email, group_code, footer_text, signature_html, oauth_enabled, language, smtp_password, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (code) DO UPDATE SET
				name = excluded.name, email = excluded.email, group_code = excluded.group_code,
				footer_text = excluded.footer_text, signature_html = excluded.signature_html,
				oauth_enabled = excluded.oauth_enabled, language = excluded.language,
				smtp_password = coalesce(excluded.smtp_password, operators.smtp_password),
				updated_at = excluded.updated_at
			RETURNING smtp_password IS NOT NULL, smtp_password_target`,
			o.Code, o.Name, o.Email, group, o.FooterText, o.SignatureHTML, o.OAuthEnabled, o.Language, pw, s.ts(now)).Scan(&pwSet, &was)
		if err != nil {
			return fmt.Errorf("sqlstore: put operator %q: %w", o.Code, err)
		}
		if o.ClearSMTPPassword && pwSet {
			if _, err := tx.ExecContext(ctx, `UPDATE operators SET smtp_password = NULL, smtp_password_target = '' WHERE code = $1`, o.Code); err != nil {
				return fmt.Errorf("sqlstore: clear the SMTP password of operator %q: %w", o.Code, err)
			}
			pwSet = false
		}
		if !pwSet {
			return nil
		}
		target, inFlow, err := operatorTarget(ctx, tx, o.Code)
		if err != nil {
			return err
		}
		if o.SMTPPassword != "" {
			// A password given now is for the operator's flow of now.
			_, err = tx.ExecContext(ctx, `UPDATE operators SET smtp_password_target = $2 WHERE code = $1`, o.Code, target)
			if err != nil {
				return fmt.Errorf("sqlstore: put operator %q: %w", o.Code, err)
			}
			return nil
		}
		if !inFlow {
			return nil // bound where it was; checked again when they join a flow
		}
		dropped, err := bindPassword(ctx, tx, o.Code, was, target)
		pwSet = pwSet && !dropped
		return err
	})
	if err != nil {
		return err
	}
	o.UpdatedAt, o.SMTPPasswordSet = now, pwSet
	return nil
}

// operatorTarget returns the SMTP server (envoi.SMTPServer.Target) of the
// flow operator code is in, directly or through their group; inFlow is
// false, and target "", when they are in none.
func operatorTarget(ctx context.Context, tx *sql.Tx, code string) (target string, inFlow bool, err error) {
	var smtp envoi.SMTPServer
	err = tx.QueryRowContext(ctx, `
		SELECT f.smtp_host, f.smtp_port, f.smtp_security FROM auth_flows f
		WHERE f.code IN (SELECT a.flow FROM auth_flow_operators a WHERE a.operator = $1
			UNION ALL
			SELECT g.flow FROM operators o JOIN auth_flow_groups g ON g.group_code = o.group_code WHERE o.code = $1)
		ORDER BY f.code LIMIT 1`, code).Scan(&smtp.Host, &smtp.Port, &smtp.Security)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("sqlstore: flow of operator %q: %w", code, err)
	}
	return smtp.Target(), true, nil
}

// flowOf runs a query returning one flow code, "" when there is none.
func flowOf(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, query string, arg string) (string, error) {
	var flow string
	err := q.QueryRowContext(ctx, query, arg).Scan(&flow)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("sqlstore: flow of %q: %w", arg, err)
	}
	return flow, nil
}

const operatorColumns = `code, name, email, coalesce(group_code, ''), footer_text, signature_html, oauth_enabled, language, smtp_password, updated_at`

// scanOperator scans a row; the returned function decrypts the password,
// to be called once the row's connection is released (see openAll).
func (s *Store) scanOperator(row interface{ Scan(...any) error }) (*envoi.Operator, func() error, error) {
	var o envoi.Operator
	var pw []byte
	if err := row.Scan(&o.Code, &o.Name, &o.Email, &o.Group, &o.FooterText, &o.SignatureHTML, &o.OAuthEnabled, &o.Language, &pw, scanTime(&o.UpdatedAt)); err != nil {
		return nil, nil, err
	}
	o.SMTPPasswordSet = pw != nil
	return &o, func() (err error) {
		o.SMTPPassword, err = s.open(pw, aad("operators", "smtp_password", o.Code))
		return err
	}, nil
}

// Operator returns the operator of that code with the SMTP password
// decrypted; ENotFound if none.
func (s *Store) Operator(ctx context.Context, code string) (*envoi.Operator, error) {
	return cached(ctx, s, cacheOperator, code, func() (*envoi.Operator, error) { return s.readOperator(ctx, code) }, cloneOperator)
}

// readOperator is Operator read from the database, past the cache.
func (s *Store) readOperator(ctx context.Context, code string) (*envoi.Operator, error) {
	o, open, err := s.scanOperator(s.reads().QueryRowContext(ctx, `SELECT `+operatorColumns+` FROM operators WHERE code = $1`, code))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("operator", code)
	}
	if err == nil {
		err = open()
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: operator %q: %w", code, err)
	}
	return o, nil
}

// Operators returns every operator by code, passwords decrypted.
func (s *Store) Operators(ctx context.Context) ([]*envoi.Operator, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT `+operatorColumns+` FROM operators ORDER BY code`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: operators: %w", err)
	}
	var out []*envoi.Operator
	var opens []func() error
	for rows.Next() {
		o, open, err := s.scanOperator(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlstore: operators: %w", err)
		}
		out, opens = append(out, o), append(opens, open)
	}
	if err := openAll(rows, opens); err != nil {
		return nil, fmt.Errorf("sqlstore: operators: %w", err)
	}
	return out, nil
}

// DeleteOperator deletes the operator, their direct flow assignment and
// their tokens; ENotFound if none.
func (s *Store) DeleteOperator(ctx context.Context, code string) error {
	return s.configTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE operator = $1 AND operator <> ''`, code); err != nil {
			return fmt.Errorf("sqlstore: delete tokens of %q: %w", code, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_states WHERE operator = $1 AND operator <> ''`, code); err != nil {
			return fmt.Errorf("sqlstore: delete consents of %q: %w", code, err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM operators WHERE code = $1`, code)
		return affected(res, err, "operator", code)
	})
}

// PutGroup inserts or replaces the group of g.Code.
func (s *Store) PutGroup(ctx context.Context, g *envoi.Group) error {
	if err := g.Validate(); err != nil {
		return err
	}
	defer s.cache.drop()
	now := s.nowUTC()
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO operator_groups (code, name, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (code) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at`,
		g.Code, g.Name, s.ts(now))
	if err != nil {
		return fmt.Errorf("sqlstore: put group %q: %w", g.Code, err)
	}
	g.UpdatedAt = now
	return nil
}

// Group returns the group of that code; ENotFound if none.
func (s *Store) Group(ctx context.Context, code string) (*envoi.Group, error) {
	var g envoi.Group
	err := s.reads().QueryRowContext(ctx, `SELECT code, name, updated_at FROM operator_groups WHERE code = $1`, code).Scan(&g.Code, &g.Name, scanTime(&g.UpdatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("group", code)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: group %q: %w", code, err)
	}
	return &g, nil
}

// Groups returns every group by code.
func (s *Store) Groups(ctx context.Context) ([]*envoi.Group, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT code, name, updated_at FROM operator_groups ORDER BY code`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: groups: %w", err)
	}
	defer rows.Close()
	var out []*envoi.Group
	for rows.Next() {
		var g envoi.Group
		if err := rows.Scan(&g.Code, &g.Name, scanTime(&g.UpdatedAt)); err != nil {
			return nil, fmt.Errorf("sqlstore: groups: %w", err)
		}
		out = append(out, &g)
	}
	return out, rows.Err()
}

// DeleteGroup deletes an empty group no flow lists; ENotFound if none, and
// EInvalidInput while operators belong to it or a flow lists it.
func (s *Store) DeleteGroup(ctx context.Context, code string) error {
	return s.configTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAssignments(ctx, tx); err != nil {
			return err
		}
		var members int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM operators WHERE group_code = $1`, code).Scan(&members); err != nil {
			return fmt.Errorf("sqlstore: delete group %q: %w", code, err)
		}
		if members > 0 {
			return envoi.FieldError(envoi.EInvalidInput, "code", "group %s has %d operators: move them to another group first", code, members).WithDetail("operators", members)
		}
		flow, err := flowOf(ctx, tx, `SELECT flow FROM auth_flow_groups WHERE group_code = $1`, code)
		if err != nil {
			return err
		}
		if flow != "" {
			return envoi.FieldError(envoi.EInvalidInput, "code", "group %s is assigned to flow %s: remove it from the flow first", code, flow).WithDetail("flow", flow)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM operator_groups WHERE code = $1`, code)
		return affected(res, err, "group", code)
	})
}
