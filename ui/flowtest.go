package ui

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"sync"
	"time"

	"envoi"
)

// A flow test run in the background: the page's script starts it, polls
// its progress (one fragment each time, the steps done and the one under
// way) and may cancel it. Without the script, the form's POST runs the
// test in the request, bounded by the Tester's timeout all the same.

// testRunsKept is how many runs are kept at most; testRunKeep how long a
// finished run's outcome stays readable.
const (
	testRunsKept = 32
	testRunKeep  = 10 * time.Minute
)

type testRun struct {
	flow, operator string
	cancel         context.CancelFunc

	mu       sync.Mutex
	steps    []envoi.TestStep
	running  *envoi.TestStep
	done     bool
	finished time.Time
	res      envoi.TestResult
}

type testRuns struct {
	mu   sync.Mutex
	runs map[string]*testRun
}

// add keeps r under a new id, dropping the runs finished long ago; it
// fails when too many run at once.
func (t *testRuns) add(r *testRun, now time.Time) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.runs == nil {
		t.runs = map[string]*testRun{}
	}
	for id, old := range t.runs {
		old.mu.Lock()
		stale := old.done && now.Sub(old.finished) > testRunKeep
		old.mu.Unlock()
		if stale {
			delete(t.runs, id)
		}
	}
	if len(t.runs) >= testRunsKept {
		return "", envoi.Errorf(envoi.EUnavailable, "%d flow tests are running or were run in the last minutes; wait for one to end", len(t.runs))
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	t.runs[id] = r
	return id, nil
}

func (t *testRuns) get(flow, id string) *testRun {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.runs[id]; r != nil && r.flow == flow {
		return r
	}
	return nil
}

// startFlowTest starts the flow's Test action in the background and
// answers the first progress fragment.
func (s *Server) startFlowTest(w http.ResponseWriter, r *http.Request) {
	lang := s.language(w, r)
	f, err := s.Store.AuthFlow(r.Context(), r.PathValue("code"))
	if err == nil && s.Tester == nil {
		err = envoi.Errorf(envoi.EUnavailable, "the Test action is not running in this process")
	}
	if err != nil {
		s.renderFragment(w, lang, "testresult", &testView{Flow: r.PathValue("code"), Done: true, Err: s.errView(err, lang)})
		return
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	run := &testRun{flow: f.Code, operator: r.PostFormValue("operator"), cancel: cancel}
	id, err := s.tests.add(run, s.now())
	if err != nil {
		cancel()
		s.renderFragment(w, lang, "testresult", &testView{Flow: f.Code, Done: true, Err: s.errView(err, lang)})
		return
	}
	ctx = envoi.WithTestProgress(ctx, func(st envoi.TestStep, running bool) {
		run.mu.Lock()
		defer run.mu.Unlock()
		if running {
			run.running = &st
			return
		}
		run.running = nil
		run.steps = append(run.steps, st)
	})
	go func() {
		defer cancel()
		res, terr := s.Tester.Test(ctx, run.flow, run.operator)
		if terr != nil && res.Error == nil {
			res.Error = envoi.AsError(terr)
		}
		run.mu.Lock()
		run.res, run.done, run.running, run.finished = res, true, nil, s.now()
		run.mu.Unlock()
	}()
	s.renderFragment(w, lang, "testresult", s.testRunView(id, run, lang))
}

// testRunView is run's progress, or its outcome once done.
func (s *Server) testRunView(id string, run *testRun, lang string) *testView {
	run.mu.Lock()
	defer run.mu.Unlock()
	tv := &testView{Flow: run.flow, ID: id, Operator: run.operator, Done: run.done}
	if !run.done {
		tv.Steps = append([]envoi.TestStep(nil), run.steps...)
		if run.running != nil {
			st := *run.running
			tv.Running = &st
		}
		return tv
	}
	tv.Steps = run.res.Steps
	tv.OK = run.res.OK && run.res.Error == nil
	if run.res.Error != nil {
		tv.Err = s.errView(run.res.Error, lang)
	}
	return tv
}

func (s *Server) flowTestProgress(w http.ResponseWriter, r *http.Request) {
	run := s.tests.get(r.PathValue("code"), r.PathValue("id"))
	if run == nil {
		s.notFound(w, r)
		return
	}
	s.renderFragment(w, s.language(w, r), "testresult", s.testRunView(r.PathValue("id"), run, s.language(w, r)))
}

// cancelFlowTest stops a test under way; its outcome then says it was
// cancelled, at which step.
func (s *Server) cancelFlowTest(w http.ResponseWriter, r *http.Request) {
	run := s.tests.get(r.PathValue("code"), r.PathValue("id"))
	if run == nil {
		s.notFound(w, r)
		return
	}
	run.cancel()
	w.WriteHeader(http.StatusNoContent)
}
