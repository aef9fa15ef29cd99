# SPDX-License-Identifier: MIT
# Run under LD_PRELOAD=liballoy-override.so: threads, fork, dlopen, sqlite.
import ctypes
import os
import sqlite3
import threading

sums = []
lock = threading.Lock()


def work(seed):
    d = {i: str(i * seed) * 3 for i in range(30000)}
    lst = [v.upper() for v in d.values()]
    total = sum(int(k) for k in d) + len(lst)
    with lock:
        sums.append(total)


threads = [threading.Thread(target=work, args=(i + 1,)) for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()

r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    data = b"".join(bytes([x % 256]) for x in range(100000))
    os.write(w, str(len(data) // 2381).encode())
    os._exit(0)
os.close(w)
child = os.read(r, 100).decode()
os.waitpid(pid, 0)

libm = ctypes.CDLL("libm.so.6")
libm.cbrt.restype = ctypes.c_double
libm.cbrt.argtypes = [ctypes.c_double]

db = sqlite3.connect(":memory:")
db.execute("create table t(x)")
db.executemany("insert into t values (?)", ((i,) for i in range(1, 100001)))
(s,) = db.execute("select sum(x) from t").fetchone()

print("threads", len(sums), "sum", sum(sums), "fork", child, "dlopen", libm.cbrt(27.0), "sqlite", s)
