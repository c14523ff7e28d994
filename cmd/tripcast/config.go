package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"tripcast/config"
)

func newConfigCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the effective configuration (secrets masked)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m := a.cfg.Masked()
			if asJSON {
				enc := json.NewEncoder(a.out)
				enc.SetIndent("", "  ")
				return enc.Encode(m)
			}
			for _, f := range config.Fields() {
				fmt.Fprintf(a.out, "%-14s %s\n", f.Key, m.Get(f.Key))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
