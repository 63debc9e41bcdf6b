package main

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"runtime"

	"weft/vocab"

	"github.com/spf13/cobra"
)

func newOpenCmd() *cobra.Command {
	var data string
	var print bool
	c := &cobra.Command{
		Use:   "open [DOC]",
		Short: "Open the editor in your browser, signed in (optionally on one document)",
		Long: `Open the editor of the running daemon in the default browser, already
authenticated: the token travels in the URL's fragment (never sent to a
server), and the page moves it to its session storage and clears the
address bar. With --print, print the URL instead.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := dialDaemon(data)
			if err != nil {
				return err
			}
			frag := url.Values{"token": {cl.token}}
			if len(args) == 1 {
				if _, err := vocab.ParseDocID(args[0]); err != nil {
					return withCode(2, fmt.Errorf("open: %v", err))
				}
				frag.Set("doc", args[0])
			}
			u := cl.base + "/#" + frag.Encode()
			if print {
				fmt.Fprintln(c.OutOrStdout(), u)
				return nil
			}
			if err := openBrowser(u); err != nil {
				return withCode(1, fmt.Errorf("open: %v (use `weft open --print` and paste the URL)", err))
			}
			fmt.Fprintln(c.OutOrStdout(), "opened the editor in your browser")
			return nil
		},
	}
	c.Flags().StringVar(&data, "data", "", "data directory of the daemon (default $XDG_DATA_HOME/weft)")
	c.Flags().BoolVar(&print, "print", false, "print the URL instead of opening a browser")
	return c
}

// openBrowser starts the user's browser on u: $BROWSER if set, else the
// platform's opener.
func openBrowser(u string) error {
	var cmd *exec.Cmd
	switch {
	case os.Getenv("BROWSER") != "":
		cmd = exec.Command(os.Getenv("BROWSER"), u)
	case runtime.GOOS == "darwin":
		cmd = exec.Command("open", u)
	case runtime.GOOS == "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		cmd = exec.Command("xdg-open", u)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}
