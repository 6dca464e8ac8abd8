#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The two installed libraries as a user of them meets them: each exports
# exactly the functions its public header declares (nm -D), the headers
# install under $(includedir)/gpumarket/ with an API version macro that
# matches the package version, and a program finds both through pkg-config
# and builds against the installed copy alone.
. "$(dirname "$0")/tap/preamble.sh"

mpi_so=$top_builddir/mpi-runtime/.libs/libgpumarket-mpi.so
settlement_so=$top_builddir/settlement/.libs/libgpumarket-settlement.so
[ -f "$mpi_so" ] && [ -f "$settlement_so" ] || bail_out "the libraries are not built in $top_builddir"
command -v nm >/dev/null || bail_out "nm is not installed (Debian package binutils)"

# declared HEADER PREFIX: the functions HEADER declares, one a line, sorted.
declared() { grep -oE "\\b$2[a-z_0-9]+[[:space:]]*\\(" "$1" | tr -d '( ' | sort -u; }
# exported LIB: the library's dynamic symbols defined by it, sorted.
exported() { nm -D --defined-only "$1" | awk '$2 ~ /^[TtDdBbRrVWi]$/ { print $3 }' | sort -u; }

test_expect_success 'libgpumarket-mpi exports exactly what gpumarket_mpi.h declares' '
  declared "$top_srcdir/mpi-runtime/gpumarket_mpi.h" gmpi_ >expect &&
  test_line_count -gt 30 expect &&
  exported "$mpi_so" >actual &&
  test_cmp expect actual
'

test_expect_success 'libgpumarket-settlement exports exactly what gpumarket-settlement.h declares' '
  declared "$top_srcdir/settlement/gpumarket-settlement.h" gm_ >expect &&
  test_line_count -gt 30 expect &&
  exported "$settlement_so" >actual &&
  test_cmp expect actual
'

version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$top_builddir/config.h")
IFS=. read -r major minor release <<<"$version"
want=$(printf '0x%08x' $(((major << 16) | (minor << 8) | release)))

test_expect_success "the API version macros are the package version ($version = $want)" '
  grep -E "^#define GPUMARKET_MPI_API_VERSION $want\$" "$top_srcdir/mpi-runtime/gpumarket_mpi.h" &&
  grep -E "^#define GPUMARKET_SETTLEMENT_API_VERSION $want\$" \
    "$top_srcdir/settlement/gpumarket-settlement.h"
'

root=$TEST_TMPDIR/root
# make_var NAME: the build's value of an installation directory variable
# (run apart from any make that runs this test).
make_var() {
  (cd "$top_builddir" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
    make -s --no-print-directory -f Makefile -f - "print-$1" <<<"print-$1: ; @echo \$($1)")
}
libdir=$(make_var libdir)
includedir=$(make_var includedir)
[ -n "$libdir" ] && [ -n "$includedir" ] || bail_out "cannot read libdir and includedir from $top_builddir/Makefile"

test_expect_success 'make install puts both headers in $(includedir)/gpumarket and both .pc files' '
  make -C "$top_builddir" -s install DESTDIR="$root" >install.log 2>&1 &&
  test -f "$root$includedir/gpumarket/gpumarket_mpi.h" &&
  test -f "$root$includedir/gpumarket/gpumarket-settlement.h" &&
  test ! -e "$root$includedir/gpumarket_mpi.h" &&
  test -f "$root$libdir/pkgconfig/gpumarket-mpi.pc" &&
  test -f "$root$libdir/pkgconfig/gpumarket-settlement.pc"
'

# Installed under DESTDIR, the .pc files still say the configured prefix:
# copies with the prefix line moved into the DESTDIR tree stand in for them
# (PKG_CONFIG_SYSROOT_DIR would move Open MPI's paths too).
export PKG_CONFIG_PATH=$PWD/pc${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}

test_expect_success 'pkg-config knows both libraries at the package version' '
  mkdir -p pc &&
  for pc in gpumarket-mpi gpumarket-settlement; do
    sed "s|^prefix=|prefix=$root|" "$root$libdir/pkgconfig/$pc.pc" >"pc/$pc.pc" || return 1
  done &&
  test "$(pkg-config --modversion gpumarket-settlement)" = "$version" &&
  test "$(pkg-config --modversion gpumarket-mpi)" = "$version"
'

cat >settlement-user.c <<'C'
#include <gpumarket/gpumarket-settlement.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    const char *name = gm_receipt_end_reason_name(GM_END_COMPLETED);
    printf("%#010x %s\n", GPUMARKET_SETTLEMENT_API_VERSION, name ? name : "(null)");
    return name && strcmp(name, "completed") == 0 ? 0 : 1;
}
C
cat >mpi-user.c <<'C'
#include <gpumarket/gpumarket_mpi.h>
#include <stdio.h>
int main(void)
{
    printf("%#010x %s\n", GPUMARKET_MPI_API_VERSION, gmpi_dtype_name(GMPI_FLOAT));
    return 0;
}
C

test_expect_success 'a program builds against the installed settlement library and runs' '
  cc -o settlement-user settlement-user.c $(pkg-config --cflags --libs gpumarket-settlement) \
    -Wl,-rpath,"$root$libdir" &&
  ./settlement-user >out &&
  echo "$want completed" >expect &&
  test_cmp expect out
'

test_expect_success 'a program builds against the installed MPI runtime through pkg-config' '
  cc -o mpi-user mpi-user.c $(pkg-config --cflags --libs gpumarket-mpi) -Wl,-rpath,"$root$libdir" &&
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ./mpi-user >out &&
  echo "$want float" >expect &&
  test_cmp expect out
'

test_done
