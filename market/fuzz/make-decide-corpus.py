#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Write the seed corpus of market/fuzz/fuzz-decide (market/fuzz/corpus/decide/)
in the byte format its decode() reads.  Run from the source tree's top after
changing that format:  python3 market/fuzz/make-decide-corpus.py"""
import os

# Byte values of fuzz-decide.c's readers.
FIX_ALL = 15          # flags: repair everything (a consistent snapshot)
EDGE_U32 = {0: 240, 1: 241, 1024: 244, 1025: 245, 0xFFFFFFFF: 246}
EDGE_MONEY = {-1: 242, 'max': 243, 'min': 244, 1 << 56: 246}
EDGE_TIME = {'min': 240, 'max': 241}


def count(v):
    return [EDGE_U32[v]] if v in EDGE_U32 and v > 9 else [v]


def money(halves):  # in steps of 0.5 a GPU-hour, or an edge key
    return [EDGE_MONEY[halves]] if halves in EDGE_MONEY else [halves]


def ago(tens):  # NOW - 10 * tens; negative: after now
    return [200 - tens] if tens < 0 else [tens]


def world(flags, types, reserve, dwell, maxbid, nodes, idle, bids, leases):
    b = [flags] + [0x5a] * 8 + [len(types) - 1]
    for offered, price in types:
        b += [1 if offered else 0] + money(price)
    b += count(reserve) + [dwell] + money(maxbid) + [0]
    b += [len(nodes)]
    for part, avail, total, local, market in nodes:
        # node byte: in partition unless %5 == 0, available unless %7 == 0
        nb = 1 if part and avail else (5 if not part else 7)
        b += [nb] + count(total) + count(local) + count(market)
    b += [len(idle)]
    for node, typ, n, since in idle:
        b += count(node) + count(typ) + count(n) + since
    b += [len(bids)]
    for job, typ, gpus, bid, submit, gpn, tasks in bids:
        b += count(job) + count(typ) + count(gpus) + money(bid) + submit + count(gpn) + count(tasks)
    b += [len(leases)]
    for job, typ, gpus, price, start in leases:
        b += count(job) + count(typ) + count(gpus) + money(price) + start
    return bytes(b)


A = [(1, 4), (1, 2)]  # two offered types, reserves 2.0 and 1.0
corpus = {
    # Nothing to decide.
    'empty': world(FIX_ALL, [(1, 0)], 0, 0, 20, [], [], [], []),
    # Four nodes, idle GPUs of two types, bids above and below the reserve,
    # a no-bid job, one above MaxBid, leases to order.
    'cluster': world(FIX_ALL, A, 1, 1, 20,
                     [(1, 1, 8, 2, 2), (1, 1, 8, 0, 0), (0, 1, 4, 0, 0), (1, 0, 4, 0, 0)],
                     [(0, 0, 4, ago(60)), (1, 0, 6, ago(90)), (1, 1, 2, ago(5)),
                      (2, 0, 4, ago(99)), (3, 1, 4, ago(99))],
                     [(1, 0, 3, 8, ago(1), 0, 0), (2, 0, 4, 6, ago(2), 0, 0),
                      (3, 0, 2, 3, ago(3), 0, 0), (4, 1, 1, 0, ago(1), 0, 0),
                      (5, 0, 1, 22, ago(0), 0, 0), (6, 1, 2, 2, ago(4), 0, 0)],
                     [(1, 0, 2, 4, ago(10)), (2, 1, 1, 2, ago(20)), (3, 0, 1, 4, ago(5))]),
    # Job arrays (tasks > 1) competing for one type's supply.
    'arrays': world(FIX_ALL, A, 0, 0, 20,
                    [(1, 1, 8, 0, 0), (1, 1, 8, 0, 4)],
                    [(0, 0, 8, ago(9)), (1, 0, 4, ago(9))],
                    [(1, 0, 2, 6, ago(1), 0, 3), (2, 0, 3, 5, ago(2), 0, 2),
                     (3, 0, 1, 4, ago(3), 0, 0)], []),
    # gpus_per_node: dividing, not dividing, more nodes than offer it.
    'per-node': world(FIX_ALL, A, 0, 0, 20,
                      [(1, 1, 4, 0, 0), (1, 1, 4, 1, 0), (1, 1, 8, 0, 0)],
                      [(0, 0, 4, ago(9)), (1, 0, 3, ago(9)), (2, 0, 8, ago(9))],
                      [(1, 0, 8, 6, ago(1), 4, 0), (2, 0, 6, 5, ago(2), 4, 0),
                       (3, 0, 9, 4, ago(3), 3, 0), (4, 0, 4, 4, ago(4), 2, 2)], []),
    # Inconsistent: counts that do not add up, a repeated job id, an idle
    # record on a node out of range, a job asking for 0 GPUs (flags 0: no repair).
    'inconsistent': world(0, A, 0, 0, 20,
                          [(1, 1, 8, 2, 0), (1, 1, 1025, 0, 0)],
                          [(0, 0, 4, ago(9)), (7, 0, 2, ago(9))],
                          [(1, 0, 2, 6, ago(1), 0, 0), (1, 0, 0, 5, ago(2), 0, 0)],
                          [(2, 0, 1, -1, ago(1))]),
    # Extremes: UINT32_MAX GPUs and tasks, INT64 bids and times, idle since
    # after now, a bid of 2^56 (the radix sort's limit).
    'extremes': world(FIX_ALL, [(1, 0), (1, 'max')], 0xFFFFFFFF, 0, 'max',
                      [(1, 1, 8, 0, 0), (1, 1, 8, 0, 0)],
                      [(0, 0, 8, ago(-5)), (1, 0, 8, [EDGE_TIME['min']])],
                      [(1, 0, 0xFFFFFFFF, 'max', [EDGE_TIME['min']], 0, 0),
                       (2, 0, 1, 1 << 56, [EDGE_TIME['max']], 1, 0xFFFFFFFF),
                       (3, 1, 2, 0, ago(1), 0xFFFFFFFF, 2), (4, 0, 1, 'min', ago(1), 0, 0)],
                      [(1, 0, 0xFFFFFFFF, 'max', [EDGE_TIME['max']]),
                       (2, 1, 1, 0, [EDGE_TIME['min']])]),
}

top = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus', 'decide')
os.makedirs(top, exist_ok=True)
for name, data in corpus.items():
    with open(os.path.join(top, name), 'wb') as f:
        f.write(data)
