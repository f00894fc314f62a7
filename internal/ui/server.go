package ui

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Options tune the dashboard.
type Options struct {
	// AllowActions lets the dashboard replay dead letters, cancel jobs
	// and pause or resume schedules. Without it every request but GET and
	// HEAD is refused with 403, and no page offers an action.
	AllowActions bool
	// LoopbackOnly refuses requests whose Host header is not a loopback
	// name or address (421), so that a web page cannot reach a dashboard
	// listening on loopback by rebinding its own name to 127.0.0.1. Set it
	// when listening on loopback (see Listen).
	LoopbackOnly bool
	// LogPoll is how often a job page's live log reads the job's journal
	// and its task's log. Defaults to 500ms; each poll is a read of each
	// (on AWS, CloudWatch Logs calls: raise it there).
	LogPoll time.Duration
	// LogGrace is how long a live log keeps waiting, once the job ended,
	// for lines its task's log has not ended with an end record or the
	// count its terminal event promised. Defaults to 10s.
	LogGrace time.Duration
	// Heartbeat is how often an idle live log sends a comment, so that
	// proxies keep the connection. Defaults to 15s.
	Heartbeat time.Duration
	// Logger logs failures the pages cannot show. Defaults to discarding.
	Logger *slog.Logger
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
}

func (o Options) logPoll() time.Duration {
	if o.LogPoll > 0 {
		return o.LogPoll
	}
	return 500 * time.Millisecond
}

func (o Options) logGrace() time.Duration {
	if o.LogGrace > 0 {
		return o.LogGrace
	}
	return 10 * time.Second
}

func (o Options) heartbeat() time.Duration {
	if o.Heartbeat > 0 {
		return o.Heartbeat
	}
	return 15 * time.Second
}

// Server is the dashboard: an http.Handler that can be mounted in any
// mux at its root.
type Server struct {
	src   Source
	opts  Options
	mux   *http.ServeMux
	pages map[string]*template.Template
	// key signs the CSRF tokens; new at every start, so a restart ends
	// every session's token (the page is reloaded, the form sent again).
	key     []byte
	origins *http.CrossOriginProtection
	log     *slog.Logger
}

// New returns the dashboard on src.
func New(src Source, opts Options) (*Server, error) {
	s := &Server{src: src, opts: opts, mux: http.NewServeMux(), key: make([]byte, 32),
		origins: http.NewCrossOriginProtection(), log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if _, err := rand.Read(s.key); err != nil {
		return nil, fmt.Errorf("making the dashboard's CSRF key: %w", err)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s.pages = pages
	s.routes()
	return s, nil
}

func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

func (s *Server) routes() {
	static, err := fs.Sub(assets, "static")
	if err != nil {
		panic(err) // the embedded tree has it: a build mistake
	}
	files := http.FileServerFS(static)
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", files))
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/jobs", http.StatusSeeOther)
	})
	s.mux.HandleFunc("GET /jobs", s.handleJobs)
	s.mux.HandleFunc("GET /jobs/{id}", s.handleJob)
	s.mux.HandleFunc("GET /jobs/{id}/events", s.handleEvents)
	s.mux.HandleFunc("GET /jobs/{id}/log.txt", s.handleLogText)
	s.mux.HandleFunc("GET /jobs/{id}/cancel", s.handleCancelForm)
	s.mux.HandleFunc("POST /jobs/{id}/cancel", s.handleCancel)
	s.mux.HandleFunc("GET /batches", s.handleBatches)
	s.mux.HandleFunc("GET /batches/{id}", s.handleBatch)
	s.mux.HandleFunc("GET /lanes", s.handleLanes)
	s.mux.HandleFunc("GET /dlq", s.handleDLQ)
	s.mux.HandleFunc("GET /dlq/{id}", s.handleDryRun)
	s.mux.HandleFunc("POST /dlq/{id}/replay", s.handleReplay)
	s.mux.HandleFunc("GET /schedules", s.handleSchedules)
	s.mux.HandleFunc("POST /schedules/{name}/pause", s.handlePause)
	s.mux.HandleFunc("POST /schedules/{name}/resume", s.handleResume)
}

// ServeHTTP serves the dashboard: every response carries the security
// headers; a request naming another host than loopback is refused when
// LoopbackOnly; anything but GET and HEAD is refused unless actions are
// allowed, it comes from the dashboard's own pages (same origin), and it
// carries its session's CSRF token.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if s.opts.LoopbackOnly && !loopbackHost(r.Host) {
		http.Error(w, "this dashboard answers on a loopback address only (127.0.0.1, [::1] or localhost), not "+r.Host, http.StatusMisdirectedRequest)
		return
	}
	session, fresh := s.session(r)
	if fresh {
		// HttpOnly and SameSite=Strict always; Secure only over TLS:
		// on plain-HTTP loopback a Secure cookie would never come back.
		c := &http.Cookie{Name: sessionCookie, Value: session, Path: "/", HttpOnly: true, //nolint:gosec // Secure as the connection allows: see above
			Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode}
		http.SetCookie(w, c)
	}
	r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, session))
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if err := s.origins.Check(r); err != nil {
			s.fail(w, r, http.StatusForbidden, errors.New("refused: this request did not come from the dashboard's own pages (cross-origin)"))
			return
		}
		if !s.opts.AllowActions {
			s.fail(w, r, http.StatusForbidden, errors.New("refused: the dashboard is read-only; start it with --allow-actions to replay, cancel and pause"))
			return
		}
		if fresh || !s.validToken(session, w, r) {
			s.fail(w, r, http.StatusForbidden, errors.New("refused: the form's security token is missing or stale; reload the page and try again"))
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// loopbackHost reports whether a Host header names this machine's
// loopback: localhost, 127.0.0.0/8 or ::1, with any port.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Listen listens on addr and reports whether it is loopback only (see
// Loopback).
func Listen(ctx context.Context, addr string) (ln net.Listener, loopback bool, err error) {
	loopback, err = Loopback(addr)
	if err != nil {
		return nil, false, err
	}
	var lc net.ListenConfig
	ln, err = lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, false, fmt.Errorf("listening on %s for the dashboard: %w", addr, err)
	}
	return ln, loopback, nil
}

// Loopback reports whether a HOST:PORT to listen on is this machine's
// loopback only: a loopback address or "localhost". An empty host
// (":8080") is every interface.
func Loopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("dashboard address %q: want HOST:PORT, such as 127.0.0.1:8080: %w", addr, err)
	}
	return host != "" && loopbackHost(host), nil
}

// ExposedWarning is what to tell the user when the dashboard listens
// beyond loopback at addr.
func ExposedWarning(addr string, actions bool) string {
	what := "sees every job's output and the dead letters"
	if actions {
		what += ", and can replay dead letters, cancel jobs and pause schedules (--allow-actions)"
	}
	return fmt.Sprintf("WARNING: the dashboard listens on %s, beyond this machine's loopback, and has no login: anyone who can reach it %s. Bind 127.0.0.1 (the default), or put it behind a proxy that authenticates.", addr, what)
}

// Serve serves the dashboard on ln until ctx ends; the requests under
// way (live logs) end with it.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errs := make(chan error, 1)
	go func() { errs <- hs.Serve(ln) }()
	select {
	case err := <-errs:
		return fmt.Errorf("serving the dashboard: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serr := <-errs; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
