package ui_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"weft/ui"
	"weft/ui/uitest"
)

func TestNewRefusesBadOptions(t *testing.T) {
	good := ui.DefaultOptions()
	good.Token = token
	for name, mod := range map[string]func(*ui.Options){
		"all interfaces":      func(o *ui.Options) { o.Addr = ":7420" },
		"any address":         func(o *ui.Options) { o.Addr = "0.0.0.0:7420" },
		"LAN address":         func(o *ui.Options) { o.Addr = "192.168.1.2:7420" },
		"host name":           func(o *ui.Options) { o.Addr = "example.com:7420" },
		"no port":             func(o *ui.Options) { o.Addr = "127.0.0.1" },
		"empty addr":          func(o *ui.Options) { o.Addr = "" },
		"no token":            func(o *ui.Options) { o.Token = "" },
		"short token":         func(o *ui.Options) { o.Token = "abc" },
		"token with a space":  func(o *ui.Options) { o.Token = "0123456789 abcdef" },
		"tiny body limit":     func(o *ui.Options) { o.MaxBody = 10 },
		"negative body limit": func(o *ui.Options) { o.MaxBody = -1 },
	} {
		o := good
		mod(&o)
		if _, err := ui.New(uitest.New(), o); !errors.Is(err, ui.ErrOptions) {
			t.Errorf("%s: New = %v, want ErrOptions", name, err)
		}
	}
	if _, err := ui.New(nil, good); !errors.Is(err, ui.ErrOptions) {
		t.Errorf("nil backend: %v", err)
	}
	for _, addr := range []string{"127.0.0.1:7420", "[::1]:0", "localhost:0", "127.0.0.2:1"} {
		o := good
		o.Addr = addr
		if _, err := ui.New(uitest.New(), o); err != nil {
			t.Errorf("Addr %q: %v", addr, err)
		}
	}
	o := good
	o.Addr, o.AllowNonLoopback = "0.0.0.0:0", true
	if _, err := ui.New(uitest.New(), o); err != nil {
		t.Errorf("AllowNonLoopback: %v", err)
	}
}

func TestDefaultOptions(t *testing.T) {
	o := ui.DefaultOptions()
	if o.Addr != "127.0.0.1:7420" || o.MaxBody != 16<<20 || o.AllowNonLoopback || o.NoFallback {
		t.Fatalf("DefaultOptions() = %+v", o)
	}
}

func TestNewToken(t *testing.T) {
	a, err := ui.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ui.NewToken()
	if len(a) != 64 || a == b {
		t.Fatalf("tokens %q %q", a, b)
	}
	o := ui.DefaultOptions()
	o.Token = a
	if _, err := ui.New(uitest.New(), o); err != nil {
		t.Fatalf("a NewToken token is refused: %v", err)
	}
}

func start(t *testing.T, s *ui.Server) string {
	t.Helper()
	addr, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return addr
}

func get(t *testing.T, url, host, tok string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestStartServesOnLoopback(t *testing.T) {
	s, fake := newServer(t)
	fake.Put(docA, "", "over the wire 🌍")
	addr := start(t, s)
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("listening on %q", addr)
	}
	base := "http://" + addr
	if code, body := get(t, base+"/api/docs/"+docA+"/text", "", token); code != 200 || body != "over the wire 🌍" {
		t.Fatalf("text: %d %q", code, body)
	}
	if code, _ := get(t, base+"/api/status", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	// A DNS-rebinding page reaches the same socket but names its own host.
	if code, body := get(t, base+"/api/docs/"+docA+"/text", "attacker.example:"+strings.Split(addr, ":")[1], token); code != http.StatusForbidden || strings.Contains(body, "wire") {
		t.Fatalf("rebinding: %d %q", code, body)
	}
	if _, err := s.Start(); err == nil {
		t.Fatal("second Start succeeded")
	}
}

func TestStartFallsBackWhenPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	s, _ := newServer(t, func(o *ui.Options) { o.Addr = taken.Addr().String() })
	addr := start(t, s)
	if addr == taken.Addr().String() {
		t.Fatalf("Start reports the taken address %s", addr)
	}
	if code, _ := get(t, "http://"+addr+"/api/status", "", token); code != 200 {
		t.Fatalf("fallback server answers %d", code)
	}

	s2, _ := newServer(t, func(o *ui.Options) { o.Addr = taken.Addr().String(); o.NoFallback = true })
	if _, err := s2.Start(); err == nil || !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Fatalf("NoFallback Start = %v, want an error naming the address", err)
	}
}

func TestShutdownStopsServing(t *testing.T) {
	s, _ := newServer(t)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown before Start: %v", err)
	}
	addr, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, "http://"+addr+"/api/status", "", token); code != 200 {
		t.Fatalf("status %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	http.DefaultClient.CloseIdleConnections()
	if _, err := http.Get("http://" + addr + "/api/status"); err == nil {
		t.Fatal("server still answers after Shutdown")
	}
}
