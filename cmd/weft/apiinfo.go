package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// apiInfoName is the file in the data directory through which the CLI
// finds the running daemon's API.
const apiInfoName = "api.json"

// maxAPIInfoBytes bounds api.json; a real one is about 150 bytes.
const maxAPIInfoBytes = 64 << 10

// errNoAPIInfo means the data directory has no api.json: no daemon has
// announced itself there.
var errNoAPIInfo = errors.New("no api.json")

// apiInfo is the content of api.json, written by `weft daemon` (mode 0600:
// the token is a secret) and read by every client command.
type apiInfo struct {
	API   string `json:"api"`   // base URL, "http://127.0.0.1:PORT"
	Token string `json:"token"` // bearer token for every request
	PID   int    `json:"pid"`   // the daemon's process ID
}

func (a apiInfo) validate() error {
	u, err := url.Parse(a.API)
	if err != nil {
		return fmt.Errorf("api %q is not a URL: %v", a.API, err)
	}
	if u.Scheme != "http" || u.User != nil || u.Port() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("api %q is not of the form http://HOST:PORT", a.API)
	}
	// Only this machine: never send the token where DNS says.
	if h := u.Hostname(); !strings.EqualFold(h, "localhost") && net.ParseIP(h) == nil {
		return fmt.Errorf("api %q names host %q; want an IP address or localhost", a.API, h)
	}
	if a.Token == "" || strings.ContainsAny(a.Token, " \t\r\n") {
		return errors.New("token is empty or has spaces")
	}
	if a.PID <= 0 {
		return fmt.Errorf("pid %d is not a process ID", a.PID)
	}
	return nil
}

// writeAPIInfo atomically replaces dir/api.json with info, mode 0600: it
// writes a temporary file beside it, syncs it and renames it into place,
// so a reader sees the old file or the new one, never a part.
func writeAPIInfo(dir string, info apiInfo) (err error) {
	if err := info.validate(); err != nil {
		return fmt.Errorf("writing %s: %w", apiInfoName, err)
	}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	f, err := os.CreateTemp(dir, "."+apiInfoName+".*.tmp") // created 0600
	if err != nil {
		return fmt.Errorf("writing %s: %w", apiInfoName, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
			err = fmt.Errorf("writing %s: %w", filepath.Join(dir, apiInfoName), err)
		}
	}()
	if err = f.Chmod(0o600); err == nil {
		if _, err = f.Write(b); err == nil {
			err = f.Sync()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err = os.Rename(tmp, filepath.Join(dir, apiInfoName)); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil { // make the rename durable; best effort
		d.Sync()
		d.Close()
	}
	return nil
}

// readAPIInfo reads and checks dir/api.json. A missing file is
// errNoAPIInfo; anything malformed is an error naming the file.
func readAPIInfo(dir string) (apiInfo, error) {
	path := filepath.Join(dir, apiInfoName)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return apiInfo{}, fmt.Errorf("%w in %s", errNoAPIInfo, dir)
	}
	if err != nil {
		return apiInfo{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAPIInfoBytes+1))
	if err != nil {
		return apiInfo{}, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(b) > maxAPIInfoBytes {
		return apiInfo{}, fmt.Errorf("%s is larger than %d bytes; it is not weft's", path, maxAPIInfoBytes)
	}
	var info apiInfo
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&info); err != nil {
		return apiInfo{}, fmt.Errorf("%s is malformed: %v", path, err)
	}
	if err := info.validate(); err != nil {
		return apiInfo{}, fmt.Errorf("%s is malformed: %v", path, err)
	}
	return info, nil
}

// removeAPIInfo removes dir/api.json if it still holds info, so that a
// daemon shutting down never removes the file of one that replaced it.
func removeAPIInfo(dir string, info apiInfo) error {
	cur, err := readAPIInfo(dir)
	if errors.Is(err, errNoAPIInfo) || (err == nil && cur != info) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, apiInfoName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
