// Package tlc reads NYC Taxi & Limousine Commission (TLC) trip record files
// (green and yellow parquet months), cleans them with the course rule or the
// stricter default rule, reads the taxi zone lookup and downloads months from
// the TLC trip-data site.
package tlc

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"tripcast"
)

// Rule is a cleaning rule: which trips of a month are kept.
type Rule int

const (
	// RuleDefault is the course rule plus validation: the pickup lies in the
	// file's month, zone IDs are known (1..265), distance is neither missing,
	// negative nor absurd. It is the zero value.
	RuleDefault Rule = iota
	// RuleCourse keeps exactly the trips the MLOps course keeps: duration
	// (dropoff − pickup) between 1 and 60 minutes inclusive.
	RuleCourse
)

// String returns the rule's name, "default" or "course".
func (r Rule) String() string {
	switch r {
	case RuleCourse:
		return "course"
	case RuleDefault:
		return "default"
	}
	return fmt.Sprintf("Rule(%d)", int(r))
}

// MarshalText implements encoding.TextMarshaler.
func (r Rule) MarshalText() ([]byte, error) {
	if r != RuleCourse && r != RuleDefault {
		return nil, fmt.Errorf("unknown cleaning rule %d", int(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Rule) UnmarshalText(b []byte) error {
	v, err := ParseRule(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// ParseRule parses a rule name: "course" or "default" ("" means default).
func ParseRule(s string) (Rule, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "default", "":
		return RuleDefault, nil
	case "course":
		return RuleCourse, nil
	}
	return 0, tripcast.FieldError("rule", "unknown cleaning rule %q (want course or default)", s)
}

// Drop reasons: the keys of Report.Dropped. Each dropped row is counted under
// exactly one reason, the first check it fails, in this order.
const (
	// DropDuration: pickup or dropoff time missing, or duration outside
	// 1..60 minutes (the course rule).
	DropDuration = "duration_out_of_range"
	// DropOutsideMonth: the pickup is not in the file's month (default rule).
	DropOutsideMonth = "pickup_outside_month"
	// DropNullRequired: PULocationID, DOLocationID or trip_distance is
	// null (default rule).
	DropNullRequired = "null_required"
	// DropZoneUnknown: a location ID outside 1..265 (default rule).
	DropZoneUnknown = "zone_unknown"
	// DropDistanceNegative: trip_distance < 0 (default rule).
	DropDistanceNegative = "distance_negative"
	// DropDistanceAbsurd: trip_distance > MaxDistance miles (default rule).
	DropDistanceAbsurd = "distance_absurd"
)

// MaxDistance is the largest trip distance, in miles, the default rule keeps.
// Kept trips last at most 60 minutes, so a longer distance means an average
// speed above 100 mph: a meter error, not a taxi ride (the longest
// plausible rides, Manhattan to the edge of the TLC's reach, are 30–60 miles).
const MaxDistance = 100.0

// Zone IDs the default rule accepts: the rows of taxi_zone_lookup.csv.
const (
	MinZoneID = 1
	MaxZoneID = 265
)

// Reasons returns the drop reasons a rule can report, in check order.
func (r Rule) Reasons() []string {
	if r == RuleCourse {
		return []string{DropDuration}
	}
	return []string{DropDuration, DropOutsideMonth, DropNullRequired, DropZoneUnknown,
		DropDistanceNegative, DropDistanceAbsurd}
}

// Report is the validation report of one cleaned file.
type Report struct {
	File     string         `json:"file"`      // the file's name or path, as given
	Color    string         `json:"color"`     // "green" or "yellow"
	Month    string         `json:"month"`     // YYYY-MM, "" when unknown
	Rule     string         `json:"rule"`      // "course" or "default"
	RowsRead int            `json:"rows_read"` // rows in the file
	RowsKept int            `json:"rows_kept"` // rows left after cleaning
	Dropped  map[string]int `json:"dropped"`   // reason → rows dropped (every reason of the rule, 0 included)
}

var monthInName = regexp.MustCompile(`(?:^|_)(\d{4}-(?:0[1-9]|1[0-2]))\.parquet$`)
var colorInName = regexp.MustCompile(`^(green|yellow)_tripdata_`)

// MonthFromName returns the YYYY-MM month in a TLC file name such as
// "green_tripdata_2021-01.parquet" or "2021-01.parquet", or "" when the name
// has none.
func MonthFromName(name string) string {
	m := monthInName.FindStringSubmatch(filepath.Base(name))
	if m == nil {
		return ""
	}
	return m[1]
}

// colorFromName returns "green" or "yellow" from a TLC file name, or "".
func colorFromName(name string) string {
	m := colorInName.FindStringSubmatch(filepath.Base(name))
	if m == nil {
		return ""
	}
	return m[1]
}

// FileName returns the TLC file name of a month: <color>_tripdata_<YYYY-MM>.parquet.
func FileName(color, month string) string {
	return color + "_tripdata_" + month + ".parquet"
}

// fileError returns an EINVALID error naming the file and the problem.
func fileError(name string, err error, format string, args ...any) error {
	return &tripcast.Error{Code: tripcast.EINVALID, Message: name + ": " + fmt.Sprintf(format, args...), Err: err}
}
