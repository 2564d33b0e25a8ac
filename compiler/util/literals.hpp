// Literal values of the language that carry their own syntax: durations,
// percentages, cron expressions, deployment windows and freeze periods.
//
// Every parser here is pure (no I/O, no clock) and reports a reason when the
// text is not valid, so the checker can turn it into a diagnostic.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trix::lit {

/// Parses `250ms`, `30s`, `5m`, `1h`, `2d` and compounds such as `1h30m` or
/// `1d2h3m4s500ms` (units strictly decreasing, each at most once; the number
/// before a unit may have a fraction: `1.5h`). Returns milliseconds.
std::optional<double> ParseDuration(std::string_view text);
/// Canonical text of a duration in milliseconds: the largest units first, e.g. 5400000 -> "1h30m".
std::string FormatDuration(double ms);

/// Parses `10%` or `0.5%`; returns the fraction (0.1, 0.005).
std::optional<double> ParsePercent(std::string_view text);

/// Validates a five-field cron expression (minute hour day-of-month month
/// day-of-week) with `*`, `a`, `a-b`, `*/n`, `a-b/n`, comma lists, month
/// names JAN-DEC and day names SUN-SAT (case-insensitive), day-of-week 0-7.
/// Returns std::nullopt when valid, else a lower-case reason naming the field,
/// e.g. "hour field `25` is out of range 0-23".
std::optional<std::string> CronError(std::string_view text);

/// A weekly deployment window, e.g. "Mon-Thu 09:00-16:00 UTC".
struct Window {
  std::uint8_t days = 0;           // bit 0 = Monday ... bit 6 = Sunday
  int start_minute = 0;            // minutes after 00:00, inclusive
  int end_minute = 0;              // exclusive; end <= start means the window crosses midnight
  int utc_offset_minutes = 0;      // offset of the zone from UTC
  std::string zone;                // as written: "UTC", "+02:00"
};
/// Syntax: DAYS " " HH:MM "-" HH:MM [" " ZONE]. DAYS is a day (`Mon`), a range
/// (`Mon-Fri`, may wrap: `Fri-Mon`) or a comma list of those (`Mon,Wed-Thu`);
/// day names are the first three letters, case-insensitive. ZONE is `UTC`,
/// `GMT`, `Z` or an offset `+HH:MM` / `-HH:MM`; default UTC. Several windows may
/// be joined with `;`. On error `error` gets a lower-case reason.
std::optional<std::vector<Window>> ParseWindow(std::string_view text, std::string* error);

/// A freeze period of whole days, inclusive, as days since 1970-01-01.
struct Freeze {
  std::int64_t first_day = 0;
  std::int64_t last_day = 0;
};
/// Syntax: `YYYY-MM-DD` or `YYYY-MM-DD..YYYY-MM-DD` (real calendar dates, first <= last).
std::optional<Freeze> ParseFreeze(std::string_view text, std::string* error);

/// Days since 1970-01-01 of a civil date; std::nullopt when the date does not exist.
std::optional<std::int64_t> DaysFromCivil(int year, int month, int day);

}  // namespace trix::lit
