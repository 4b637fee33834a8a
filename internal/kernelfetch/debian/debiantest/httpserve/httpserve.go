// Package httpserve serves a debiantest.Archive over HTTP on loopback,
// with the failure modes of debiantest (Mode*). Only tests and the
// debianserve command import it.
package httpserve

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/ktest-dev/ktest/internal/kernelfetch/debian/debiantest"
)

// Server serves an Archive on 127.0.0.1.
type Server struct {
	// ModeFunc, when set before requests arrive, is asked for the mode
	// on every request instead of SetMode's value.
	ModeFunc func() string
	// OnDeb, when set, is called with the new count before each .deb
	// response.
	OnDeb    func(n int64)
	URL      string // the mirror URL: http://127.0.0.1:PORT/debian
	srv      *httptest.Server
	mode     atomic.Value
	debs     atomic.Int64
	debsDone atomic.Int64
}

// Serve starts serving a on loopback.
func Serve(a *debiantest.Archive) *Server {
	s := NewServer(a)
	s.Start()
	return s
}

// NewServer prepares a server of a; set ModeFunc and OnDeb, then Start.
func NewServer(a *debiantest.Archive) *Server {
	s := &Server{}
	s.mode.Store(debiantest.ModeOK)
	files := http.StripPrefix("/debian", http.FileServer(http.Dir(a.Root)))
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode := s.mode.Load().(string)
		if s.ModeFunc != nil {
			mode = s.ModeFunc()
		}
		switch {
		case strings.HasSuffix(r.URL.Path, ".deb"):
			if n := s.debs.Add(1); s.OnDeb != nil {
				s.OnDeb(n)
			}
			defer s.debsDone.Add(1)
			if mode == debiantest.ModeHang {
				if st, err := os.Stat(filepath.Join(a.Root, strings.TrimPrefix(r.URL.Path, "/debian"))); err == nil {
					w.Header().Set("Content-Length", fmt.Sprint(st.Size()))
				}
				w.WriteHeader(http.StatusOK)
				w.(http.Flusher).Flush()
				<-r.Context().Done()
				return
			}
			if mode == debiantest.ModeTruncate || mode == debiantest.ModeTamperDeb {
				s.serveBroken(w, r, a, mode)
				return
			}
		case strings.HasSuffix(r.URL.Path, "/InRelease") && mode == debiantest.ModeTamperInRelease:
			data, err := os.ReadFile(filepath.Join(a.Root, strings.TrimPrefix(r.URL.Path, "/debian")))
			if err != nil {
				http.NotFound(w, r)
				return
			}
			w.Write(bytes.Replace(data, []byte("Components: main"), []byte("Components: main contrib"), 1))
			return
		}
		files.ServeHTTP(w, r)
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err == nil {
		s.srv.Listener.Close()
		s.srv.Listener = l
	}
	return s
}

// Start starts serving; URL is set from then on.
func (s *Server) Start() {
	s.srv.Start()
	s.URL = s.srv.URL + "/debian"
}

func (s *Server) serveBroken(w http.ResponseWriter, r *http.Request, a *debiantest.Archive, mode string) {
	data, err := os.ReadFile(filepath.Join(a.Root, strings.TrimPrefix(r.URL.Path, "/debian")))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if mode == debiantest.ModeTamperDeb {
		data = append([]byte(nil), data...)
		data[len(data)-10] ^= 0xff
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data)
		return
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	w.WriteHeader(http.StatusOK)
	w.Write(data[:len(data)/2])
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
		}
	}
}

// SetMode changes how the server answers.
func (s *Server) SetMode(mode string) { s.mode.Store(mode) }

// DebRequests is how many .deb files were requested so far.
func (s *Server) DebRequests() int64 { return s.debs.Load() }

// Close stops the server: the mirror is then down.
func (s *Server) Close() { s.srv.Close() }
