package ui

import (
	"net/http"
	"strings"
	"time"

	"envoi"
)

type usersData struct {
	User      *envoi.User // nil: the form creates one
	Users     []*envoi.User
	Operators []*envoi.Operator
	Form      envoi.User
	Now       time.Time
}

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request, status int, form envoi.User, err error) {
	ctx := r.Context()
	users, lerr := s.Store.Users(ctx)
	if lerr != nil {
		s.renderError(w, r, lerr)
		return
	}
	ops, lerr := s.Store.Operators(ctx)
	if lerr != nil {
		s.renderError(w, r, lerr)
		return
	}
	if form.Role == "" {
		form.Role = envoi.RoleAdmin
	}
	p := s.newPage(w, r, "users", usersData{Users: users, Operators: ops, Form: form, Now: s.now()})
	p.Err = s.errView(err, p.Lang)
	s.render(w, status, "users", p)
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	s.usersPage(w, r, http.StatusOK, envoi.User{}, nil)
}

func userForm(r *http.Request) envoi.User {
	return envoi.User{
		Email:    strings.TrimSpace(r.PostFormValue("email")),
		Name:     strings.TrimSpace(r.PostFormValue("name")),
		Role:     r.PostFormValue("role"),
		Operator: strings.TrimSpace(r.PostFormValue("operator")),
		Language: r.PostFormValue("language"),
	}
}

// createUser adds a user with a first password the administrator passes on
// (the user changes it on their account page, or recovers it by e-mail).
func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	u := userForm(r)
	hash, err := HashPassword(r.PostFormValue("password"))
	if err == nil {
		u.PasswordHash = hash
		err = s.Store.CreateUser(r.Context(), &u)
	}
	if err != nil {
		s.usersPage(w, r, envoi.HTTPStatus(envoi.ErrorCode(err)), u, err)
		return
	}
	s.done(w, r, "/users", "flash.user_created", u.Email)
}

type userData struct {
	Form      envoi.User // unused: the form edits User
	User      *envoi.User
	Operators []*envoi.Operator
	Now       time.Time
	Self      bool
}

func (s *Server) userPage(w http.ResponseWriter, r *http.Request, status int, u *envoi.User, err error) {
	ops, lerr := s.Store.Operators(r.Context())
	if lerr != nil {
		s.renderError(w, r, lerr)
		return
	}
	p := s.newPage(w, r, "users", userData{User: u, Operators: ops, Now: s.now(), Self: u.ID == current(r).ID})
	p.Err = s.errView(err, p.Lang)
	s.render(w, status, "user", p)
}

func (s *Server) editUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.Store.User(r.Context(), r.PathValue("id"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.userPage(w, r, http.StatusOK, u, nil)
}

// saveUser changes a user's name, role, operator and language, and sets a
// new password when one is given. An administrator cannot take away their
// own admin role.
func (s *Server) saveUser(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u, err := s.Store.User(ctx, r.PathValue("id"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	f := userForm(r)
	u.Name, u.Role, u.Operator, u.Language = f.Name, f.Role, f.Operator, f.Language
	if u.ID == current(r).ID && u.Role != envoi.RoleAdmin {
		s.userPage(w, r, envoi.HTTPStatus(envoi.EInvalidInput), u, envoi.FieldError(envoi.EInvalidInput, "role", "you cannot remove your own administrator role"))
		return
	}
	if err := s.Store.UpdateUser(ctx, u); err != nil {
		s.userPage(w, r, envoi.HTTPStatus(envoi.ErrorCode(err)), u, err)
		return
	}
	if pw := r.PostFormValue("password"); pw != "" {
		hash, err := HashPassword(pw)
		if err == nil {
			err = s.Store.SetPassword(ctx, u.ID, hash)
		}
		if err != nil {
			s.userPage(w, r, envoi.HTTPStatus(envoi.ErrorCode(err)), u, err)
			return
		}
	}
	s.done(w, r, "/users", "flash.saved", "")
}

func (s *Server) unlockUser(w http.ResponseWriter, r *http.Request) {
	if err := s.Store.Unlock(r.Context(), r.PathValue("id")); err != nil {
		s.failTo(w, r, "/users", err)
		return
	}
	s.done(w, r, "/users", "flash.user_unlocked", "")
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if id == current(r).ID {
		s.failTo(w, r, "/users", envoi.Errorf(envoi.EForbidden, "you cannot delete yourself"))
		return
	}
	if err := s.Store.DeleteUser(r.Context(), id); err != nil {
		s.failTo(w, r, "/users", err)
		return
	}
	s.done(w, r, "/users", "flash.deleted", "")
}
