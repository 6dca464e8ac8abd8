# SPDX-License-Identifier: GPL-2.0-or-later
# The TAP library the C unit tests link with, and its own test.
check_LTLIBRARIES += tests/tap/libtap.la
tests_tap_libtap_la_SOURCES = tests/tap/tap.c tests/tap/tap.h
EXTRA_DIST += tests/tap/tap.sh

check_PROGRAMS += tests/tap/test/tap_selftest.t
tests_tap_test_tap_selftest_t_SOURCES = tests/tap/test/tap_selftest.c
tests_tap_test_tap_selftest_t_LDADD = tests/tap/libtap.la
UNIT_TESTS += tests/tap/test/tap_selftest.t

# The shell test library (sharness-style): preamble, TAP functions, fixtures,
# and its own test.
EXTRA_DIST += tests/tap/preamble.sh tests/tap/fixtures.sh tests/tap/test/sharness.t
UNIT_TESTS += tests/tap/test/sharness.t
