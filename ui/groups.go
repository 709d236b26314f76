package ui

import (
	"net/http"
	"sort"
	"strings"

	"envoi"
)

// groupRow is a group with what hangs on it: the operators in it and the
// authentication flow it is ticked on (a group is on one flow at most).
type groupRow struct {
	Group   *envoi.Group
	Members []string
	Flow    string
}

type groupsData struct {
	Rows []groupRow
}

// groupRows returns every group with its operators and flow.
func (s *Server) groupRows(r *http.Request) ([]groupRow, error) {
	ctx := r.Context()
	groups, err := s.Store.Groups(ctx)
	if err != nil {
		return nil, err
	}
	ops, err := s.Store.Operators(ctx)
	if err != nil {
		return nil, err
	}
	flows, err := s.Store.AuthFlows(ctx)
	if err != nil {
		return nil, err
	}
	members := map[string][]string{}
	for _, o := range ops {
		if o.Group != "" {
			members[o.Group] = append(members[o.Group], o.Code)
		}
	}
	flowOf := map[string]string{}
	for _, f := range flows {
		for _, g := range f.Groups {
			flowOf[g] = f.Code
		}
	}
	rows := make([]groupRow, 0, len(groups))
	for _, g := range groups {
		m := members[g.Code]
		sort.Strings(m)
		rows = append(rows, groupRow{Group: g, Members: m, Flow: flowOf[g.Code]})
	}
	return rows, nil
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) {
	rows, err := s.groupRows(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, http.StatusOK, "groups", s.newPage(w, r, "groups", groupsData{Rows: rows}))
}

type groupData struct {
	Row groupRow
	New bool
}

// groupPage shows the form of g; for a stored group, with its operators
// and flow, which say whether it can be deleted.
func (s *Server) groupPage(w http.ResponseWriter, r *http.Request, status int, g *envoi.Group, isNew bool, err error) {
	d := groupData{Row: groupRow{Group: g}, New: isNew}
	if !isNew {
		rows, lerr := s.groupRows(r)
		if lerr != nil {
			s.renderError(w, r, lerr)
			return
		}
		for _, row := range rows {
			if row.Group.Code == g.Code {
				d.Row.Members, d.Row.Flow = row.Members, row.Flow
			}
		}
	}
	p := s.newPage(w, r, "groups", d)
	p.Err = s.errView(err, p.Lang)
	s.render(w, status, "group", p)
}

func (s *Server) newGroup(w http.ResponseWriter, r *http.Request) {
	s.groupPage(w, r, http.StatusOK, &envoi.Group{}, true, nil)
}

func (s *Server) editGroup(w http.ResponseWriter, r *http.Request) {
	g, err := s.Store.Group(r.Context(), r.PathValue("code"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.groupPage(w, r, http.StatusOK, g, false, nil)
}

// saveGroup creates a group (its code is fixed from then on) or renames
// one.
func (s *Server) saveGroup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	code := r.PathValue("code")
	isNew := code == ""
	g := &envoi.Group{Code: strings.TrimSpace(r.PostFormValue("code"))}
	var err error
	if isNew {
		switch _, gerr := s.Store.Group(ctx, g.Code); {
		case !envoi.ValidCode(g.Code):
			err = envoi.FieldError(envoi.EInvalidInput, "code", "%q is not a valid code (1 to 64 letters, digits, '_', '-' or '.')", g.Code)
		case gerr == nil:
			err = envoi.FieldError(envoi.EConflict, "code", "a group with the code %s already exists", g.Code)
		case envoi.ErrorCode(gerr) != envoi.ENotFound:
			err = gerr
		}
	} else if g, err = s.Store.Group(ctx, code); err != nil {
		s.renderError(w, r, err)
		return
	}
	g.Name = strings.TrimSpace(r.PostFormValue("name"))
	if err == nil {
		err = s.Store.PutGroup(ctx, g)
	}
	if err != nil {
		s.groupPage(w, r, envoi.HTTPStatus(envoi.ErrorCode(err)), g, isNew, err)
		return
	}
	s.done(w, r, "/groups/"+g.Code, "flash.group_saved", g.Code)
}

// deleteGroup deletes an empty group that no flow lists; the store
// refuses any other (invalid_input naming the operators' count or the
// flow), and the group's page shows why.
func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if err := s.Store.DeleteGroup(r.Context(), code); err != nil {
		s.failTo(w, r, "/groups/"+code, err)
		return
	}
	s.done(w, r, "/groups", "flash.deleted", "")
}
