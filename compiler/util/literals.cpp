// Parsers for the literals with a syntax of their own: durations, percentages,
// cron expressions, deployment windows and freeze periods (see literals.hpp).
//
// All functions are pure: they read only their arguments. Errors are returned
// as lower-case sentences without a trailing period, quoting the offending
// text in backticks, so the checker can wrap them in a diagnostic unchanged.
#include "compiler/util/literals.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <string>
#include <system_error>
#include <utility>

namespace trix::lit {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

/// Splits at runs of whitespace; no empty pieces.
std::vector<std::string_view> SplitWords(std::string_view s) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && IsSpace(s[i])) ++i;
    std::size_t start = i;
    while (i < s.size() && !IsSpace(s[i])) ++i;
    if (i > start) words.push_back(s.substr(start, i - start));
  }
  return words;
}

/// Splits at every `sep`, keeping empty pieces (so "a,,b" shows its hole).
std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

std::string Quote(std::string_view s) {
  std::string out = "`";
  out += s;
  out += '`';
  return out;
}

/// Parses a small non-negative decimal integer made only of digits. Nine
/// digits at most, so the value always fits an int.
std::optional<int> ParseSmallInt(std::string_view s) {
  if (!AllDigits(s) || s.size() > 9) return std::nullopt;
  int value = 0;
  for (char c : s) value = value * 10 + (c - '0');
  return value;
}

/// Reads the number at the front of `s`: DIGITS ["." DIGITS]. No sign, no
/// exponent and no bare "." so that `1.h` or `.5h` are rejected rather than
/// guessed at. Advances `s` past the number.
std::optional<double> TakeNumber(std::string_view& s) {
  std::size_t i = 0;
  while (i < s.size() && IsDigit(s[i])) ++i;
  if (i == 0) return std::nullopt;
  if (i < s.size() && s[i] == '.') {
    std::size_t frac = i + 1;
    std::size_t j = frac;
    while (j < s.size() && IsDigit(s[j])) ++j;
    if (j == frac) return std::nullopt;
    i = j;
  }
  double value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + i, value);
  if (ec != std::errc() || ptr != s.data() + i || !std::isfinite(value)) return std::nullopt;
  s.remove_prefix(i);
  return value;
}

/// Shortest text that reads back as `value`, in plain (not scientific) notation.
std::string FixedShortest(double value) {
  std::array<char, 512> buf{};
  auto [ptr, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value, std::chars_format::fixed);
  if (ec != std::errc()) return "0";
  return std::string(buf.data(), ptr);
}

void SetError(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
}

// ---------------------------------------------------------------------------
// Durations

struct DurationUnit {
  std::string_view suffix;
  double ms;
};
// Largest first; the index is the unit's rank, and compounds must use
// strictly increasing ranks. "ms" comes before "m" wherever the suffix is
// matched so that `5ms` is not read as five minutes followed by `s`.
constexpr std::array<DurationUnit, 5> kDurationUnits = {{
    {"d", 86'400'000.0},
    {"h", 3'600'000.0},
    {"m", 60'000.0},
    {"s", 1'000.0},
    {"ms", 1.0},
}};

std::optional<std::size_t> TakeUnit(std::string_view& s) {
  if (s.starts_with("ms")) {
    s.remove_prefix(2);
    return 4;
  }
  if (s.empty()) return std::nullopt;
  for (std::size_t rank = 0; rank < 4; ++rank) {
    if (s.front() == kDurationUnits[rank].suffix.front()) {
      s.remove_prefix(1);
      return rank;
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Cron

struct CronField {
  std::string_view name;
  int min;
  int max;
  // Three-letter names for the values names_base, names_base + 1, ...; empty
  // when the field takes numbers only.
  std::string_view names;  // concatenated, three letters each
  int names_base;
  std::string_view names_hint;  // how the error message describes them
};

constexpr std::array<CronField, 5> kCronFields = {{
    {"minute", 0, 59, "", 0, ""},
    {"hour", 0, 23, "", 0, ""},
    {"day-of-month", 1, 31, "", 0, ""},
    {"month", 1, 12, "JANFEBMARAPRMAYJUNJULAUGSEPOCTNOVDEC", 1, "a month name (JAN-DEC)"},
    // 0 and 7 are both Sunday, as in Vixie cron and POSIX extensions.
    {"day-of-week", 0, 7, "SUNMONTUEWEDTHUFRISAT", 0, "a day name (SUN-SAT)"},
}};

std::string FieldPrefix(const CronField& field, std::string_view item) {
  return std::string(field.name) + " field " + Quote(item);
}

/// One value of a field: a number in range or, where allowed, a name.
std::optional<int> CronValue(const CronField& field, std::string_view item, std::string_view text,
                             std::string& error) {
  if (AllDigits(text)) {
    std::optional<int> value = ParseSmallInt(text);
    if (!value || *value < field.min || *value > field.max) {
      error = std::string(field.name) + " field " + Quote(text) + " is out of range " +
              std::to_string(field.min) + "-" + std::to_string(field.max);
      return std::nullopt;
    }
    return value;
  }
  if (!field.names.empty() && text.size() == 3) {
    for (std::size_t i = 0; i + 3 <= field.names.size(); i += 3) {
      if (EqualsIgnoreCase(text, field.names.substr(i, 3))) {
        return field.names_base + static_cast<int>(i / 3);
      }
    }
  }
  if (text.empty()) {
    error = FieldPrefix(field, item) + " is missing a value";
  } else if (field.names.empty()) {
    error = std::string(field.name) + " field " + Quote(text) + " is not a number";
  } else {
    error = std::string(field.name) + " field " + Quote(text) + " is not a number or " +
            std::string(field.names_hint);
  }
  return std::nullopt;
}

/// One comma-separated item: `*`, `a`, `a-b`, `*/n` or `a-b/n`.
bool CronItem(const CronField& field, std::string_view item, std::string& error) {
  if (item.empty()) {
    error = std::string(field.name) + " field has an empty item between commas";
    return false;
  }
  std::string_view base = item;
  std::optional<std::string_view> step;
  if (std::size_t slash = item.find('/'); slash != std::string_view::npos) {
    base = item.substr(0, slash);
    step = item.substr(slash + 1);
    if (step->find('/') != std::string_view::npos) {
      error = FieldPrefix(field, item) + " has more than one step";
      return false;
    }
  }

  bool is_range = false;
  if (base != "*") {
    std::size_t dash = base.find('-');
    if (dash == std::string_view::npos) {
      if (!CronValue(field, item, base, error)) return false;
    } else {
      is_range = true;
      std::optional<int> lo = CronValue(field, item, base.substr(0, dash), error);
      if (!lo) return false;
      std::optional<int> hi = CronValue(field, item, base.substr(dash + 1), error);
      if (!hi) return false;
      if (*lo > *hi) {
        error = FieldPrefix(field, item) + " is a range that ends before it starts";
        // SUN is 0, so `FRI-SUN` runs backwards; 7 is the Sunday that ends a week.
        if (field.max == 7 && *hi == 0) error += "; write `7` for a Sunday that ends a range";
        return false;
      }
    }
  }

  if (step) {
    if (base != "*" && !is_range) {
      // Vixie cron and robfig/cron disagree on `5/15`; the spec allows only
      // `*/n` and `a-b/n`, which mean the same everywhere.
      error = FieldPrefix(field, item) + " has a step without a range; write `" + std::string(base) +
              "-" + std::to_string(field.max) + "/" + std::string(*step) + "` or `*/" +
              std::string(*step) + "`";
      return false;
    }
    if (!AllDigits(*step)) {
      error = FieldPrefix(field, item) + " has step " + Quote(*step) + ", which is not a number";
      return false;
    }
    std::optional<int> n = ParseSmallInt(*step);
    if (!n || *n < 1) {
      error = FieldPrefix(field, item) + " has step " + Quote(*step) + "; a step must be at least 1";
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------
// Windows

constexpr std::array<std::string_view, 7> kDayNames = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::string_view kWindowExample = "e.g. `Mon-Fri 09:00-17:00 UTC`";

std::optional<int> DayIndex(std::string_view text, std::string* error) {
  for (std::size_t i = 0; i < kDayNames.size(); ++i) {
    if (EqualsIgnoreCase(text, kDayNames[i])) return static_cast<int>(i);
  }
  SetError(error, Quote(text) + " is not a day; expected Mon, Tue, Wed, Thu, Fri, Sat or Sun");
  return std::nullopt;
}

std::optional<std::uint8_t> ParseDays(std::string_view text, std::string* error) {
  std::uint8_t days = 0;
  for (std::string_view item : Split(text, ',')) {
    if (item.empty()) {
      SetError(error, "days " + Quote(text) + " have an empty item between commas");
      return std::nullopt;
    }
    std::size_t dash = item.find('-');
    std::optional<int> first = DayIndex(item.substr(0, dash), error);
    if (!first) return std::nullopt;
    int last = *first;
    if (dash != std::string_view::npos) {
      std::optional<int> end = DayIndex(item.substr(dash + 1), error);
      if (!end) return std::nullopt;
      last = *end;
    }
    // A range may wrap past Sunday: `Fri-Mon` is Fri, Sat, Sun, Mon.
    for (int d = *first;; d = (d + 1) % 7) {
      days = static_cast<std::uint8_t>(days | (1u << d));
      if (d == last) break;
    }
  }
  return days;
}

/// HH:MM (the hour may have one digit). `24:00` is accepted when `is_end`,
/// meaning the end of the day.
std::optional<int> ParseTimeOfDay(std::string_view text, bool is_end, std::string* error) {
  std::size_t colon = text.find(':');
  std::string_view hh = text.substr(0, colon);
  std::string_view mm = colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
  if (colon == std::string_view::npos || !AllDigits(hh) || hh.size() > 2 || !AllDigits(mm) ||
      mm.size() != 2) {
    SetError(error, Quote(text) + " is not a time; expected HH:MM");
    return std::nullopt;
  }
  int hour = *ParseSmallInt(hh);
  int minute = *ParseSmallInt(mm);
  if (minute > 59) {
    SetError(error, "minute `" + std::string(mm) + "` in " + Quote(text) + " is out of range 0-59");
    return std::nullopt;
  }
  if (hour == 24 && minute == 0 && is_end) return 24 * 60;
  if (hour > 23) {
    std::string message = "hour `" + std::string(hh) + "` in " + Quote(text) + " is out of range 0-23";
    if (hour == 24 && minute == 0) message += " (`24:00` may only end a window)";
    SetError(error, std::move(message));
    return std::nullopt;
  }
  return hour * 60 + minute;
}

/// `UTC`, `GMT`, `Z` (any case) or `+HH:MM` / `-HH:MM`. Named zones such as
/// `Europe/Berlin` are refused on purpose: their offset changes with daylight
/// saving, and a pure parser cannot know which offset applies on a given day.
std::optional<int> ParseZone(std::string_view text, std::string* error) {
  if (EqualsIgnoreCase(text, "UTC") || EqualsIgnoreCase(text, "GMT") || EqualsIgnoreCase(text, "Z")) {
    return 0;
  }
  if (text.size() == 6 && (text[0] == '+' || text[0] == '-') && text[3] == ':' &&
      AllDigits(text.substr(1, 2)) && AllDigits(text.substr(4, 2))) {
    int hours = *ParseSmallInt(text.substr(1, 2));
    int minutes = *ParseSmallInt(text.substr(4, 2));
    int offset = hours * 60 + minutes;
    if (text[0] == '-') offset = -offset;
    // The offsets in use on Earth run from -12:00 to +14:00.
    if (minutes > 59 || offset < -12 * 60 || offset > 14 * 60) {
      SetError(error, "zone offset " + Quote(text) + " is out of range -12:00 to +14:00");
      return std::nullopt;
    }
    return offset;
  }
  SetError(error, Quote(text) +
                      " is not a zone; expected UTC, GMT, Z or an offset such as `+02:00` "
                      "(named zones are not supported because their offset changes with daylight saving)");
  return std::nullopt;
}

std::optional<Window> ParseOneWindow(std::string_view text, std::string* error) {
  std::vector<std::string_view> words = SplitWords(text);
  if (words.size() < 2) {
    if (text.find(':') != std::string_view::npos) {
      SetError(error, "window " + Quote(text) + " names no days; expected DAYS HH:MM-HH:MM [ZONE], " +
                          std::string(kWindowExample));
    } else {
      SetError(error, "window " + Quote(text) + " has no time range; expected DAYS HH:MM-HH:MM [ZONE], " +
                          std::string(kWindowExample));
    }
    return std::nullopt;
  }
  if (words.size() > 3) {
    SetError(error, "window " + Quote(text) + " has unexpected text " + Quote(words[3]) +
                        "; expected DAYS HH:MM-HH:MM [ZONE], " + std::string(kWindowExample));
    return std::nullopt;
  }

  Window window;
  std::optional<std::uint8_t> days = ParseDays(words[0], error);
  if (!days) return std::nullopt;
  window.days = *days;

  std::string_view times = words[1];
  std::size_t dash = times.find('-');
  if (dash == std::string_view::npos) {
    SetError(error, Quote(times) + " is not a time range; expected HH:MM-HH:MM");
    return std::nullopt;
  }
  std::optional<int> start = ParseTimeOfDay(times.substr(0, dash), false, error);
  if (!start) return std::nullopt;
  std::optional<int> end = ParseTimeOfDay(times.substr(dash + 1), true, error);
  if (!end) return std::nullopt;
  if (*start == *end) {
    // Equal ends would mean either nothing or a whole day; neither is a
    // likely intent, so ask for the explicit spelling.
    SetError(error, "window " + Quote(times) +
                        " starts and ends at the same time; for a whole day write `00:00-24:00`");
    return std::nullopt;
  }
  window.start_minute = *start;
  window.end_minute = *end;

  if (words.size() == 3) {
    std::optional<int> offset = ParseZone(words[2], error);
    if (!offset) return std::nullopt;
    window.utc_offset_minutes = *offset;
    window.zone = std::string(words[2]);
  } else {
    window.zone = "UTC";
  }
  return window;
}

// ---------------------------------------------------------------------------
// Freeze dates

constexpr std::string_view kFreezeExpected = "expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD";

std::optional<std::int64_t> ParseDate(std::string_view text, std::string* error) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-' || !AllDigits(text.substr(0, 4)) ||
      !AllDigits(text.substr(5, 2)) || !AllDigits(text.substr(8, 2))) {
    SetError(error, Quote(text) + " is not a date; " + std::string(kFreezeExpected));
    return std::nullopt;
  }
  std::optional<std::int64_t> days =
      DaysFromCivil(*ParseSmallInt(text.substr(0, 4)), *ParseSmallInt(text.substr(5, 2)),
                    *ParseSmallInt(text.substr(8, 2)));
  if (!days) SetError(error, Quote(text) + " is not a calendar date");
  return days;
}

}  // namespace

// ---------------------------------------------------------------------------

std::optional<double> ParseDuration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  double total = 0;
  std::optional<std::size_t> previous_rank;
  while (!text.empty()) {
    std::optional<double> number = TakeNumber(text);
    if (!number) return std::nullopt;
    std::optional<std::size_t> rank = TakeUnit(text);
    if (!rank) return std::nullopt;
    if (previous_rank && *rank <= *previous_rank) return std::nullopt;
    previous_rank = rank;
    total += *number * kDurationUnits[*rank].ms;
  }
  if (!std::isfinite(total)) return std::nullopt;
  return total;
}

std::string FormatDuration(double ms) {
  if (std::isnan(ms)) return "nan";
  if (std::isinf(ms)) return ms > 0 ? "inf" : "-inf";
  if (ms < 0) return "-" + FormatDuration(-ms);

  // Beyond 2^53 ms (~285 000 years) whole milliseconds are no longer exact;
  // such values only come from nonsense input, so print them as days.
  if (ms >= 9.0e15) return FixedShortest(ms / kDurationUnits[0].ms) + "d";

  // A duration such as 0.3s can reach us a few ulps off a whole number of
  // ms after the multiplication; such noise is far below 1e-12 relative, so
  // anything closer than that (or than a picosecond) counts as whole.
  double whole_ms = std::round(ms);
  double fraction = 0;
  if (std::fabs(ms - whole_ms) > std::max(1e-9, 1e-12 * ms)) {
    whole_ms = std::floor(ms);
    fraction = ms - whole_ms;
  }
  auto rest = static_cast<std::int64_t>(whole_ms);

  std::string out;
  for (std::size_t rank = 0; rank < kDurationUnits.size(); ++rank) {
    auto unit = static_cast<std::int64_t>(kDurationUnits[rank].ms);
    std::int64_t count = rest / unit;
    rest %= unit;
    bool is_ms = rank + 1 == kDurationUnits.size();
    if (is_ms && fraction > 0) {
      out += FixedShortest(static_cast<double>(count) + fraction);
      out += kDurationUnits[rank].suffix;
    } else if (count != 0) {
      out += std::to_string(count);
      out += kDurationUnits[rank].suffix;
    }
  }
  return out.empty() ? "0s" : out;
}

std::optional<double> ParsePercent(std::string_view text) {
  std::optional<double> number = TakeNumber(text);
  if (!number || text != "%") return std::nullopt;
  return *number / 100.0;
}

std::optional<std::string> CronError(std::string_view text) {
  constexpr std::string_view kFieldList = "minute hour day-of-month month day-of-week";
  std::vector<std::string_view> fields = SplitWords(text);
  if (fields.empty()) {
    return "cron expression is empty; expected five fields: " + std::string(kFieldList);
  }
  if (fields.size() == 1 && fields[0].starts_with('@')) {
    return "cron shorthand " + Quote(fields[0]) +
           " is not supported; write the five fields, e.g. `0 0 * * *` for `@daily`";
  }
  if (fields.size() != kCronFields.size()) {
    return "cron expression " + Quote(Trim(text)) + " has " + std::to_string(fields.size()) +
           " fields; expected five: " + std::string(kFieldList);
  }
  std::string error;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    for (std::string_view item : Split(fields[i], ',')) {
      if (!CronItem(kCronFields[i], item, error)) return error;
    }
  }
  return std::nullopt;
}

std::optional<std::vector<Window>> ParseWindow(std::string_view text, std::string* error) {
  if (Trim(text).empty()) {
    SetError(error, "window is empty; expected DAYS HH:MM-HH:MM [ZONE], " + std::string(kWindowExample));
    return std::nullopt;
  }
  std::vector<Window> windows;
  for (std::string_view part : Split(text, ';')) {
    part = Trim(part);
    if (part.empty()) {
      SetError(error, "window " + Quote(Trim(text)) + " has an empty part between `;`");
      return std::nullopt;
    }
    std::optional<Window> window = ParseOneWindow(part, error);
    if (!window) return std::nullopt;
    windows.push_back(std::move(*window));
  }
  return windows;
}

std::optional<Freeze> ParseFreeze(std::string_view text, std::string* error) {
  if (text.empty()) {
    SetError(error, "freeze is empty; " + std::string(kFreezeExpected));
    return std::nullopt;
  }
  std::size_t dots = text.find("..");
  std::string_view first_text = text.substr(0, dots);
  std::string_view last_text = dots == std::string_view::npos ? first_text : text.substr(dots + 2);
  if (dots == std::string_view::npos && first_text.size() != 10) {
    // Not even shaped like one date: quote the whole text.
    SetError(error, Quote(text) + " is not a date; " + std::string(kFreezeExpected));
    return std::nullopt;
  }
  std::optional<std::int64_t> first = ParseDate(first_text, error);
  if (!first) return std::nullopt;
  std::optional<std::int64_t> last = ParseDate(last_text, error);
  if (!last) return std::nullopt;
  if (*last < *first) {
    SetError(error, "freeze ends (" + Quote(last_text) + ") before it starts (" + Quote(first_text) + ")");
    return std::nullopt;
  }
  return Freeze{*first, *last};
}

std::optional<std::int64_t> DaysFromCivil(int year, int month, int day) {
  static constexpr std::array<int, 12> kMonthDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1) return std::nullopt;
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  int month_days = kMonthDays[static_cast<std::size_t>(month - 1)] + (month == 2 && leap ? 1 : 0);
  if (day > month_days) return std::nullopt;

  // Howard Hinnant's days_from_civil: count from 0000-03-01 so that the leap
  // day is the last day of its (shifted) year, then shift to 1970-01-01.
  std::int64_t y = static_cast<std::int64_t>(year) - (month <= 2 ? 1 : 0);
  std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  std::int64_t year_of_era = y - era * 400;                                     // [0, 399]
  std::int64_t shifted_month = month > 2 ? month - 3 : month + 9;               // [0, 11]
  std::int64_t day_of_year = (153 * shifted_month + 2) / 5 + day - 1;           // [0, 365]
  std::int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

}  // namespace trix::lit
