// Unit tests for compiler/util/literals: durations, percentages, cron,
// deployment windows and freeze periods.
#include "compiler/util/literals.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace trix::lit;

namespace {

std::string WindowError(std::string_view text) {
  std::string error;
  auto windows = ParseWindow(text, &error);
  if (windows) return "<valid>";
  return error;
}

std::string FreezeError(std::string_view text) {
  std::string error;
  auto freeze = ParseFreeze(text, &error);
  if (freeze) return "<valid>";
  return error;
}

constexpr std::uint8_t kMon = 1u << 0, kTue = 1u << 1, kWed = 1u << 2, kThu = 1u << 3,
                       kFri = 1u << 4, kSat = 1u << 5, kSun = 1u << 6;

}  // namespace

// ---------------------------------------------------------------------------
// Durations

TEST_CASE("durations with a single unit", "[literals][duration]") {
  CHECK(ParseDuration("250ms") == Approx(250));
  CHECK(ParseDuration("30s") == Approx(30'000));
  CHECK(ParseDuration("5m") == Approx(300'000));
  CHECK(ParseDuration("1h") == Approx(3'600'000));
  CHECK(ParseDuration("2d") == Approx(172'800'000));
  CHECK(ParseDuration("0s") == Approx(0));
}

TEST_CASE("compound and fractional durations", "[literals][duration]") {
  CHECK(ParseDuration("1h30m") == Approx(5'400'000));
  CHECK(ParseDuration("1.5h") == Approx(5'400'000));
  CHECK(ParseDuration("1d2h3m4s500ms") == Approx(86'400'000 + 7'200'000 + 180'000 + 4'000 + 500));
  CHECK(ParseDuration("1m30s") == Approx(90'000));
  CHECK(ParseDuration("0.5ms") == Approx(0.5));
  CHECK(ParseDuration("2m500ms") == Approx(120'500));
}

TEST_CASE("invalid durations", "[literals][duration]") {
  for (const char* text : {"", "5", "m", "5x", "1m1h", "5m5m", "1s1s", "1ms1s", "1h 30m", " 5m", "5m ", "-5m",
                           "+5m", ".5h", "1.h", "1e3s", "5M", "h1", "1h30", "5mss", "1,5h"}) {
    INFO("text: " << text);
    CHECK_FALSE(ParseDuration(text).has_value());
  }
}

TEST_CASE("format durations with the largest units first", "[literals][duration]") {
  CHECK(FormatDuration(5'400'000) == "1h30m");
  CHECK(FormatDuration(250) == "250ms");
  CHECK(FormatDuration(30'000) == "30s");
  CHECK(FormatDuration(172'800'000) == "2d");
  CHECK(FormatDuration(0) == "0s");
  CHECK(FormatDuration(86'400'000 + 7'200'000 + 180'000 + 4'000 + 500) == "1d2h3m4s500ms");
  CHECK(FormatDuration(3'600'000 + 1) == "1h1ms");
  CHECK(FormatDuration(0.5) == "0.5ms");
  CHECK(FormatDuration(1000.5) == "1s0.5ms");
  CHECK(FormatDuration(-90'000) == "-1m30s");
  CHECK(FormatDuration(123'456'789.125) == "1d10h17m36s789.125ms");
}

TEST_CASE("format absorbs floating-point noise from fractions", "[literals][duration]") {
  CHECK(FormatDuration(*ParseDuration("0.3s")) == "300ms");
  CHECK(FormatDuration(*ParseDuration("1.1s")) == "1s100ms");
  CHECK(FormatDuration(*ParseDuration("0.1h")) == "6m");
}

TEST_CASE("duration text round-trips through parse and format", "[literals][duration]") {
  for (const char* text : {"250ms", "30s", "5m", "1h", "2d", "1h30m", "1d2h3m4s500ms", "0s", "10m5s", "0.5ms",
                           "1s0.5ms"}) {
    INFO("text: " << text);
    auto ms = ParseDuration(text);
    REQUIRE(ms.has_value());
    CHECK(FormatDuration(*ms) == text);
    auto again = ParseDuration(FormatDuration(*ms));
    REQUIRE(again.has_value());
    CHECK(*again == *ms);
  }
  // Non-canonical input comes back canonical.
  CHECK(FormatDuration(*ParseDuration("1.5h")) == "1h30m");
  CHECK(FormatDuration(*ParseDuration("90m")) == "1h30m");
  CHECK(FormatDuration(*ParseDuration("1500ms")) == "1s500ms");
}

// ---------------------------------------------------------------------------
// Percentages

TEST_CASE("percentages", "[literals][percent]") {
  CHECK(ParsePercent("10%") == Approx(0.1));
  CHECK(ParsePercent("0.5%") == Approx(0.005));
  CHECK(ParsePercent("100%") == Approx(1.0));
  CHECK(ParsePercent("0%") == Approx(0.0));
  for (const char* text : {"", "%", "10", "10 %", "-5%", ".5%", "5.%", "10%%", "a%", "1e2%", "10% "}) {
    INFO("text: " << text);
    CHECK_FALSE(ParsePercent(text).has_value());
  }
}

// ---------------------------------------------------------------------------
// Cron

TEST_CASE("valid cron expressions", "[literals][cron]") {
  for (const char* text : {"0 2 * * 2", "*/15 * * * *", "0 9-17 * * MON-FRI", "0 0 1 JAN,JUL *", "5 4 * * 7",
                           "* * * * *", "0,30 8-18/2 1-15 */3 0", "0 0 * * sun", "0 12 * jan-jun mon,wed,fri",
                           "59 23 31 12 6", "0 0 * * 5-7", "  0  2 * *\t2 "}) {
    INFO("text: " << text);
    CHECK(CronError(text) == std::nullopt);
  }
}

TEST_CASE("cron with the wrong number of fields", "[literals][cron]") {
  CHECK(CronError("* * * *") ==
        "cron expression `* * * *` has 4 fields; expected five: minute hour day-of-month month day-of-week");
  CHECK(CronError("0 * * * * *") ==
        "cron expression `0 * * * * *` has 6 fields; expected five: minute hour day-of-month month day-of-week");
  CHECK(CronError("") == "cron expression is empty; expected five fields: minute hour day-of-month month day-of-week");
  CHECK(CronError("@daily") ==
        "cron shorthand `@daily` is not supported; write the five fields, e.g. `0 0 * * *` for `@daily`");
}

TEST_CASE("cron values out of range", "[literals][cron]") {
  CHECK(CronError("60 * * * *") == "minute field `60` is out of range 0-59");
  CHECK(CronError("* 24 * * *") == "hour field `24` is out of range 0-23");
  CHECK(CronError("* 25 * * *") == "hour field `25` is out of range 0-23");
  CHECK(CronError("* * 0 * *") == "day-of-month field `0` is out of range 1-31");
  CHECK(CronError("* * 32 * *") == "day-of-month field `32` is out of range 1-31");
  CHECK(CronError("* * * 13 *") == "month field `13` is out of range 1-12");
  CHECK(CronError("* * * 0 *") == "month field `0` is out of range 1-12");
  CHECK(CronError("* * * * 8") == "day-of-week field `8` is out of range 0-7");
  CHECK(CronError("* 9-25 * * *") == "hour field `25` is out of range 0-23");
  CHECK(CronError("0,99 * * * *") == "minute field `99` is out of range 0-59");
  CHECK(CronError("99999999999 * * * *") == "minute field `99999999999` is out of range 0-59");
}

TEST_CASE("malformed cron items", "[literals][cron]") {
  CHECK(CronError("*/0 * * * *") == "minute field `*/0` has step `0`; a step must be at least 1");
  CHECK(CronError("*/x * * * *") == "minute field `*/x` has step `x`, which is not a number");
  CHECK(CronError("*/ * * * *") == "minute field `*/` has step ``, which is not a number");
  CHECK(CronError("*/5/2 * * * *") == "minute field `*/5/2` has more than one step");
  CHECK(CronError("5/15 * * * *") == "minute field `5/15` has a step without a range; write `5-59/15` or `*/15`");
  CHECK(CronError("5-3 * * * *") == "minute field `5-3` is a range that ends before it starts");
  CHECK(CronError("* * * * FRI-SUN") ==
        "day-of-week field `FRI-SUN` is a range that ends before it starts; write `7` for a Sunday that ends a "
        "range");
  CHECK(CronError("a * * * *") == "minute field `a` is not a number");
  CHECK(CronError("* * * FOO *") == "month field `FOO` is not a number or a month name (JAN-DEC)");
  CHECK(CronError("* * * MON *") == "month field `MON` is not a number or a month name (JAN-DEC)");
  CHECK(CronError("* * * * JAN") == "day-of-week field `JAN` is not a number or a day name (SUN-SAT)");
  CHECK(CronError("* * * * MONDAY") == "day-of-week field `MONDAY` is not a number or a day name (SUN-SAT)");
  CHECK(CronError("1,,2 * * * *") == "minute field has an empty item between commas");
  CHECK(CronError("5- * * * *") == "minute field `5-` is missing a value");
  CHECK(CronError("-5 * * * *") == "minute field `-5` is missing a value");
  CHECK(CronError("? * * * *") == "minute field `?` is not a number");
  CHECK(CronError("* * L * *") == "day-of-month field `L` is not a number");
}

// ---------------------------------------------------------------------------
// Windows

TEST_CASE("a window with a day range and a zone", "[literals][window]") {
  std::string error;
  auto windows = ParseWindow("Mon-Thu 09:00-16:00 UTC", &error);
  REQUIRE(windows.has_value());
  REQUIRE(windows->size() == 1);
  const Window& w = windows->front();
  CHECK(w.days == (kMon | kTue | kWed | kThu));
  CHECK(w.start_minute == 9 * 60);
  CHECK(w.end_minute == 16 * 60);
  CHECK(w.utc_offset_minutes == 0);
  CHECK(w.zone == "UTC");
}

TEST_CASE("a window that wraps the week and crosses midnight", "[literals][window]") {
  std::string error;
  auto windows = ParseWindow("Fri-Mon 22:00-02:00 +02:00", &error);
  REQUIRE(windows.has_value());
  REQUIRE(windows->size() == 1);
  const Window& w = windows->front();
  CHECK(w.days == (kFri | kSat | kSun | kMon));
  CHECK(w.start_minute == 22 * 60);
  CHECK(w.end_minute == 2 * 60);
  CHECK(w.end_minute <= w.start_minute);
  CHECK(w.utc_offset_minutes == 120);
  CHECK(w.zone == "+02:00");
}

TEST_CASE("a window with a day list and the default zone", "[literals][window]") {
  std::string error;
  auto windows = ParseWindow("Mon,Wed 08:00-12:00", &error);
  REQUIRE(windows.has_value());
  REQUIRE(windows->size() == 1);
  const Window& w = windows->front();
  CHECK(w.days == (kMon | kWed));
  CHECK(w.start_minute == 8 * 60);
  CHECK(w.end_minute == 12 * 60);
  CHECK(w.utc_offset_minutes == 0);
  CHECK(w.zone == "UTC");
}

TEST_CASE("window variants", "[literals][window]") {
  std::string error;
  auto windows = ParseWindow("mon,wed-thu,SUN 9:30-24:00 -05:30", &error);
  REQUIRE(windows.has_value());
  const Window& w = windows->front();
  CHECK(w.days == (kMon | kWed | kThu | kSun));
  CHECK(w.start_minute == 9 * 60 + 30);
  CHECK(w.end_minute == 24 * 60);
  CHECK(w.utc_offset_minutes == -(5 * 60 + 30));
  CHECK(w.zone == "-05:30");

  auto sat = ParseWindow("Sat 00:00-06:00 Z", &error);
  REQUIRE(sat.has_value());
  CHECK(sat->front().days == kSat);
  CHECK(sat->front().zone == "Z");

  auto gmt = ParseWindow("Tue 10:00-11:00 gmt", &error);
  REQUIRE(gmt.has_value());
  CHECK(gmt->front().utc_offset_minutes == 0);
}

TEST_CASE("several windows joined by semicolons", "[literals][window]") {
  std::string error;
  auto windows = ParseWindow("Mon-Fri 09:00-12:00 UTC; Sat 10:00-11:00 +01:00", &error);
  REQUIRE(windows.has_value());
  REQUIRE(windows->size() == 2);
  CHECK((*windows)[0].days == (kMon | kTue | kWed | kThu | kFri));
  CHECK((*windows)[0].start_minute == 9 * 60);
  CHECK((*windows)[0].end_minute == 12 * 60);
  CHECK((*windows)[1].days == kSat);
  CHECK((*windows)[1].utc_offset_minutes == 60);
  CHECK((*windows)[1].zone == "+01:00");

  auto tight = ParseWindow("Mon 09:00-10:00;Tue 09:00-10:00", &error);
  REQUIRE(tight.has_value());
  CHECK(tight->size() == 2);
}

TEST_CASE("invalid windows", "[literals][window]") {
  CHECK(WindowError("Mox-Thu 09:00-16:00 UTC") == "`Mox` is not a day; expected Mon, Tue, Wed, Thu, Fri, Sat or Sun");
  CHECK(WindowError("Monday 09:00-16:00") == "`Monday` is not a day; expected Mon, Tue, Wed, Thu, Fri, Sat or Sun");
  CHECK(WindowError("Mon-Thu 24:30-16:00 UTC") == "hour `24` in `24:30` is out of range 0-23");
  CHECK(WindowError("Mon-Thu 09:00-24:30 UTC") == "hour `24` in `24:30` is out of range 0-23");
  CHECK(WindowError("Mon 24:00-02:00") == "hour `24` in `24:00` is out of range 0-23 (`24:00` may only end a window)");
  CHECK(WindowError("Mon 09:60-10:00") == "minute `60` in `09:60` is out of range 0-59");
  CHECK(WindowError("Mon-Thu") ==
        "window `Mon-Thu` has no time range; expected DAYS HH:MM-HH:MM [ZONE], e.g. `Mon-Fri 09:00-17:00 UTC`");
  CHECK(WindowError("09:00-16:00") ==
        "window `09:00-16:00` names no days; expected DAYS HH:MM-HH:MM [ZONE], e.g. `Mon-Fri 09:00-17:00 UTC`");
  CHECK(WindowError("Mon-Thu 09:00-16:00 CET") ==
        "`CET` is not a zone; expected UTC, GMT, Z or an offset such as `+02:00` (named zones are not supported "
        "because their offset changes with daylight saving)");
  CHECK(WindowError("Mon 09:00-16:00 +2") ==
        "`+2` is not a zone; expected UTC, GMT, Z or an offset such as `+02:00` (named zones are not supported "
        "because their offset changes with daylight saving)");
  CHECK(WindowError("Mon 09:00-16:00 +15:00") == "zone offset `+15:00` is out of range -12:00 to +14:00");
  CHECK(WindowError("Mon 09:00-16:00 UTC extra") ==
        "window `Mon 09:00-16:00 UTC extra` has unexpected text `extra`; expected DAYS HH:MM-HH:MM [ZONE], e.g. "
        "`Mon-Fri 09:00-17:00 UTC`");
  CHECK(WindowError("Mon 9am-5pm") == "`9am` is not a time; expected HH:MM");
  CHECK(WindowError("Mon 09:00") == "`09:00` is not a time range; expected HH:MM-HH:MM");
  CHECK(WindowError("Mon 09:00-09:00") ==
        "window `09:00-09:00` starts and ends at the same time; for a whole day write `00:00-24:00`");
  CHECK(WindowError("Mon,,Tue 09:00-10:00") == "days `Mon,,Tue` have an empty item between commas");
  CHECK(WindowError("") == "window is empty; expected DAYS HH:MM-HH:MM [ZONE], e.g. `Mon-Fri 09:00-17:00 UTC`");
  CHECK(WindowError("Mon 09:00-10:00;") == "window `Mon 09:00-10:00;` has an empty part between `;`");
  CHECK(WindowError("Mon 09:00-10:00; Tue 25:00-26:00") == "hour `25` in `25:00` is out of range 0-23");
}

TEST_CASE("window errors tolerate a null error pointer", "[literals][window]") {
  CHECK_FALSE(ParseWindow("Mox 09:00-10:00", nullptr).has_value());
  CHECK(ParseWindow("Mon 09:00-10:00", nullptr).has_value());
}

// ---------------------------------------------------------------------------
// Freeze periods and dates

TEST_CASE("civil dates to days since the epoch", "[literals][freeze]") {
  CHECK(DaysFromCivil(1970, 1, 1) == 0);
  CHECK(DaysFromCivil(1970, 1, 2) == 1);
  CHECK(DaysFromCivil(1969, 12, 31) == -1);
  CHECK(DaysFromCivil(2000, 3, 1) == 11017);
  CHECK(DaysFromCivil(2026, 12, 20) == 20807);
  CHECK(DaysFromCivil(2000, 2, 29).has_value());
  CHECK_FALSE(DaysFromCivil(1900, 2, 29).has_value());
  CHECK_FALSE(DaysFromCivil(2026, 4, 31).has_value());
  CHECK_FALSE(DaysFromCivil(2026, 0, 1).has_value());
  CHECK_FALSE(DaysFromCivil(2026, 13, 1).has_value());
  CHECK_FALSE(DaysFromCivil(2026, 1, 0).has_value());
}

TEST_CASE("freeze ranges and single days", "[literals][freeze]") {
  std::string error;
  auto range = ParseFreeze("2026-12-20..2027-01-03", &error);
  REQUIRE(range.has_value());
  CHECK(range->first_day == *DaysFromCivil(2026, 12, 20));
  CHECK(range->last_day == *DaysFromCivil(2027, 1, 3));
  CHECK(range->last_day - range->first_day == 14);

  auto day = ParseFreeze("2026-12-25", &error);
  REQUIRE(day.has_value());
  CHECK(day->first_day == *DaysFromCivil(2026, 12, 25));
  CHECK(day->last_day == day->first_day);

  auto same = ParseFreeze("2026-12-25..2026-12-25", &error);
  REQUIRE(same.has_value());
  CHECK(same->first_day == same->last_day);

  auto leap = ParseFreeze("2028-02-29", &error);
  REQUIRE(leap.has_value());
  CHECK(leap->first_day == *DaysFromCivil(2028, 3, 1) - 1);
}

TEST_CASE("invalid freeze periods", "[literals][freeze]") {
  CHECK(FreezeError("2027-02-29") == "`2027-02-29` is not a calendar date");
  CHECK(FreezeError("2026-02-30") == "`2026-02-30` is not a calendar date");
  CHECK(FreezeError("2026-13-01") == "`2026-13-01` is not a calendar date");
  CHECK(FreezeError("2026-12-20..2027-02-29") == "`2027-02-29` is not a calendar date");
  CHECK(FreezeError("2026-12-20..2026-01-01") == "freeze ends (`2026-01-01`) before it starts (`2026-12-20`)");
  CHECK(FreezeError("christmas") == "`christmas` is not a date; expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD");
  CHECK(FreezeError("2026-12-20..soon") == "`soon` is not a date; expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD");
  CHECK(FreezeError("2026-12-20..") == "`` is not a date; expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD");
  CHECK(FreezeError("2026-1-5") == "`2026-1-5` is not a date; expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD");
  CHECK(FreezeError("2026/12/20") == "`2026/12/20` is not a date; expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD");
  CHECK(FreezeError("2026-12-20 .. 2027-01-03") ==
        "`2026-12-20 ` is not a date; expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD");
  CHECK(FreezeError("") == "freeze is empty; expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD");
  CHECK_FALSE(ParseFreeze("garbage", nullptr).has_value());
}
