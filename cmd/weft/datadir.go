package main

import (
	"errors"
	"os"
	"path/filepath"
)

// defaultDataDir is where weft keeps its data unless --data says
// otherwise: $XDG_DATA_HOME/weft, or ~/.local/share/weft when
// XDG_DATA_HOME is unset or not absolute (as the XDG spec requires).
func defaultDataDir() (string, error) {
	if x := os.Getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "weft"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "", errors.New("cannot find the data directory: set --data, XDG_DATA_HOME or HOME")
	}
	return filepath.Join(home, ".local", "share", "weft"), nil
}

// dataDirFlag resolves a --data value ("" means the default).
func dataDirFlag(v string) (string, error) {
	if v != "" {
		return v, nil
	}
	return defaultDataDir()
}
