// Package deploy holds tripcast's deployment files (Terraform, systemd,
// Grafana, Prometheus) and the tests that check them: the Terraform rules
// (least-privilege IAM, private encrypted buckets, tags, described
// variables, wired modules), the Lambda zip, the container and compose
// files against the binary's real flags, and the dashboards and alert rules
// against the metrics a running tripcast exposes.
package deploy
