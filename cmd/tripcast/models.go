package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"tripcast"
	"tripcast/model"
	"tripcast/tracking"
)

// tracker returns a tracking.Tracker over the metadata database, with the
// blob store when withBlobs is set (reading or writing artifacts, moving
// aliases). An alias only moves to an artifact that decodes as a model.
func (a *app) tracker(ctx context.Context, withBlobs bool) (*tracking.Tracker, error) {
	db, err := a.store(ctx)
	if err != nil {
		return nil, err
	}
	var blobs tripcast.BlobStore
	if withBlobs {
		if blobs, err = a.blobStore(ctx); err != nil {
			return nil, err
		}
	}
	return tracking.New(db, blobs, a.log, tracking.WithArtifactCheck(decodesAsModel)), nil
}

// decodesAsModel is the registry's artifact check: the bytes are a model
// tripcast can serve.
func decodesAsModel(b []byte) error {
	_, err := model.Read(bytes.NewReader(b))
	return err
}

// actor is who moves aliases: $USER, or "tripcast".
func actor() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "tripcast"
}

func newModelsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List registered model versions, promote them to an alias, roll an alias back",
		Long: "Versions of the registered model (--model-name, default " + tripcast.DefaultModelName + ") are numbered 1, 2, 3…\n" +
			"Aliases (champion, challenger, any name) point at one version; every move is kept in a history.",
	}
	cmd.AddCommand(newModelsListCmd(a), newModelsShowCmd(a), newModelsPromoteCmd(a), newModelsRollbackCmd(a))
	return cmd
}

func newModelsListCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the versions of the registered model, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			vs, err := db.ListVersions(cmd.Context(), a.cfg.ModelName)
			if tripcast.ErrorCode(err) == tripcast.ENOTFOUND {
				vs, err = []*tripcast.ModelVersion{}, nil // nothing registered yet
			}
			if err != nil {
				return err
			}
			if asJSON {
				return emitJSON(a.out, vs)
			}
			if len(vs) == 0 {
				fmt.Fprintf(a.out, "model %s has no versions yet\n", a.cfg.ModelName)
				return nil
			}
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tALIASES\tCREATED\tRUN\tMETRICS\tSHA256")
			for _, v := range vs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", v.Version, strings.Join(v.Aliases, ","),
					v.CreatedAt.Format(time.RFC3339), v.RunID, formatMetrics(v.Metrics), shortSum(v.SHA256))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// formatMetrics prints metrics as k=v pairs sorted by key.
func formatMetrics(m map[string]float64) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%.4g", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func shortSum(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// modelShow is the JSON of models show.
type modelShow struct {
	Version      *tripcast.ModelVersion `json:"version"`
	AliasHistory []tripcast.AliasMove   `json:"alias_history"`
	Verified     *bool                  `json:"artifact_verified,omitempty"`
}

func newModelsShowCmd(a *app) *cobra.Command {
	var asJSON, verify bool
	cmd := &cobra.Command{
		Use:   "show VERSION|ALIAS",
		Short: "Show a version (by number, alias or \"latest\") and the alias moves that concern it",
		Long: "Show a version and its alias history: for an alias, every move of that alias;\n" +
			"for a version number, every move to or from that version.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			tr, err := a.tracker(ctx, verify)
			if err != nil {
				return err
			}
			ref := args[0]
			v, err := tr.Resolve(ctx, a.cfg.ModelName, ref)
			if err != nil {
				return err
			}
			alias := ""
			if _, err := strconv.Atoi(ref); err != nil && ref != "latest" {
				alias = ref
			}
			hist, err := tr.Store().AliasHistory(ctx, a.cfg.ModelName, alias)
			if err != nil {
				return err
			}
			if alias == "" {
				hist = slices.DeleteFunc(hist, func(m tripcast.AliasMove) bool { return m.From != v.Version && m.To != v.Version })
			}
			out := modelShow{Version: v, AliasHistory: hist}
			if verify {
				// Fails, with the reason, when the artifact is missing or its
				// checksum does not match.
				if _, _, err := tr.OpenVersionArtifact(ctx, a.cfg.ModelName, strconv.Itoa(v.Version)); err != nil {
					return err
				}
				ok := true
				out.Verified = &ok
			}
			if asJSON {
				return emitJSON(a.out, out)
			}
			printVersion(a.out, out)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&verify, "verify", false, "read the artifact and check its sha256")
	return cmd
}

func printVersion(w io.Writer, s modelShow) {
	v := s.Version
	fmt.Fprintf(w, "model       %s\nversion     %d\naliases     %s\ncreated     %s\nrun         %s\nartifact    %s (%d bytes)\nsha256      %s\n",
		v.Name, v.Version, strings.Join(v.Aliases, ", "), v.CreatedAt.Format(time.RFC3339), v.RunID, v.ArtifactURI, v.Size, v.SHA256)
	if s.Verified != nil {
		fmt.Fprintln(w, "verified    artifact sha256 matches")
	}
	if len(v.Metrics) > 0 {
		fmt.Fprintf(w, "metrics     %s\n", formatMetrics(v.Metrics))
	}
	if v.Description != "" {
		fmt.Fprintf(w, "description %s\n", v.Description)
	}
	if len(v.FeatureSpec) > 0 {
		// The spec carries the fitted encodings (hundreds of kB): show its
		// version and feature names; --json has all of it.
		var spec struct {
			Version  string `json:"version"`
			Features []struct {
				Name string `json:"name"`
			} `json:"features"`
		}
		if err := json.Unmarshal(v.FeatureSpec, &spec); err == nil {
			names := make([]string, len(spec.Features))
			for i, f := range spec.Features {
				names[i] = f.Name
			}
			fmt.Fprintf(w, "features    %s: %s\n", spec.Version, strings.Join(names, ", "))
		}
	}
	if len(s.AliasHistory) == 0 {
		return
	}
	fmt.Fprintln(w, "alias history")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TIME\tALIAS\tFROM\tTO\tACTOR\tREASON")
	for _, m := range s.AliasHistory {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\t%s\n", m.Time.Format(time.RFC3339), m.Alias, fromVersion(m.From), m.To, m.Actor, moveReason(m))
	}
	tw.Flush()
}

func fromVersion(v int) string {
	if v == 0 {
		return "-"
	}
	return strconv.Itoa(v)
}

func moveReason(m tripcast.AliasMove) string {
	if m.Rollback {
		return "[rollback] " + m.Reason
	}
	return m.Reason
}

// printMove prints one alias move, or its JSON.
func printMove(a *app, m *tripcast.AliasMove, asJSON bool) error {
	if asJSON {
		return emitJSON(a.out, m)
	}
	verb := "moved"
	if m.Rollback {
		verb = "rolled back"
	}
	if m.From == 0 {
		fmt.Fprintf(a.out, "%s: alias %s set to version %d (%s, by %s)\n", m.Name, m.Alias, m.To, m.Reason, m.Actor)
		return nil
	}
	fmt.Fprintf(a.out, "%s: alias %s %s from version %d to %d (%s, by %s)\n", m.Name, m.Alias, verb, m.From, m.To, m.Reason, m.Actor)
	return nil
}

func newModelsPromoteCmd(a *app) *cobra.Command {
	var alias, reason string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "promote VERSION --alias NAME --reason TEXT",
		Short: "Point an alias (champion, challenger…) at a version; the move is recorded",
		Long: "Point an alias at a version after checking its artifact (present, sha256 as registered,\n" +
			"decodes as a model); refused with the reason otherwise. The move is recorded.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			version, err := strconv.Atoi(args[0])
			if err != nil || version <= 0 {
				return tripcast.FieldError("version", "%q is not a version number (1, 2, 3…)", args[0])
			}
			tr, err := a.tracker(cmd.Context(), true) // the artifact is checked first
			if err != nil {
				return err
			}
			m, err := tr.Promote(cmd.Context(), a.cfg.ModelName, version, alias, reason, actor())
			if err != nil {
				return err
			}
			return printMove(a, m, asJSON)
		},
	}
	cmd.Flags().StringVar(&alias, "alias", "", "alias to move, e.g. champion (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "why the alias moves, kept in its history (required)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("alias")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}

func newModelsRollbackCmd(a *app) *cobra.Command {
	var alias, reason string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rollback --alias NAME [--reason TEXT]",
		Short: "Move an alias back to the version it pointed at before",
		Long: "Move an alias back to the version it pointed at before its current one. Rollbacks\n" +
			"stack: promoting 2 then 3 and rolling back twice goes 3 → 2 → 1. The version rolled back\n" +
			"to must pass the same artifact check as promote.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tr, err := a.tracker(cmd.Context(), true) // the artifact is checked first
			if err != nil {
				return err
			}
			m, err := tr.Rollback(cmd.Context(), a.cfg.ModelName, alias, reason, actor())
			if err != nil {
				return err
			}
			return printMove(a, m, asJSON)
		},
	}
	cmd.Flags().StringVar(&alias, "alias", "", "alias to roll back, e.g. champion (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "why, kept in the alias history (default \"rollback\")")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("alias")
	return cmd
}
