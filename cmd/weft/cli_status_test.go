package main

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"weft/api"
)

func TestPeers(t *testing.T) {
	d := startFakeDaemon(t)
	if out := d.ok(t, "peers"); out != "PEER ID  ADDRESSES\n" {
		t.Fatalf("no peers: %q", out)
	}
	d.fake.SetPeers([]api.PeerInfo{
		{ID: "12D3KooWA", Addrs: []string{"/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/udp/4001/quic-v1"}},
		{ID: "12D3KooWB"},
	})
	out := d.ok(t, "peers")
	want := "PEER ID    ADDRESSES\n12D3KooWA  /ip4/127.0.0.1/tcp/4001 /ip4/127.0.0.1/udp/4001/quic-v1\n12D3KooWB  \n"
	if out != want {
		t.Fatalf("peers:\n%q\nwant\n%q", out, want)
	}
	var peers []api.PeerInfo
	if err := json.Unmarshal([]byte(d.ok(t, "peers", "--json")), &peers); err != nil || len(peers) != 2 || peers[0].Addrs[1] != "/ip4/127.0.0.1/udp/4001/quic-v1" {
		t.Fatalf("peers --json: %+v %v", peers, err)
	}
	code, out, errs := d.cli(t, "peers", "extra")
	fails(t, 2, "peers: takes no arguments", code, out, errs)
}

func TestStatus(t *testing.T) {
	d := startFakeDaemon(t)
	d.fake.Put(testDocID, "", "x")
	d.fake.SetNode(api.NodeStatus{PeerID: "12D3KooWSelf", API: d.url, DataDir: d.dir, Addrs: []string{"/ip4/127.0.0.1/tcp/1", "/ip4/127.0.0.1/tcp/2"}, Version: "v1.2"})
	out := d.ok(t, "status")
	for _, want := range []string{"peer ID    12D3KooWSelf\n", "API        " + d.url + "\n", "documents  1 (1 open)\n", "peers      0\n", "version    v1.2\n", "addresses  /ip4/127.0.0.1/tcp/1\n           /ip4/127.0.0.1/tcp/2\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	var st api.NodeStatus
	if err := json.Unmarshal([]byte(d.ok(t, "status", "--json")), &st); err != nil || st.PeerID != "12D3KooWSelf" || st.Docs != 1 || st.DataDir != d.dir {
		t.Fatalf("status --json: %+v %v", st, err)
	}
}

func TestOpenPrintsAnAuthenticatedURL(t *testing.T) {
	d := startFakeDaemon(t)
	code, out, errs := d.cli(t, "open", "--print", testDocID)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if !strings.HasPrefix(out, d.url+"/#") || !strings.Contains(out, "token="+url.QueryEscape(cliToken)) || !strings.Contains(out, "doc="+testDocID) {
		t.Fatalf("URL %q", out)
	}
	code, _, errs = d.cli(t, "open", "--print", "not-an-id")
	if code != 2 || !strings.Contains(errs, "open:") {
		t.Fatalf("bad id: exit %d, %q", code, errs)
	}
}
