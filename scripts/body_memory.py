"""Peak RSS of a server process while a 300 MB body is posted (a log upload, and an invalid submit).

Usage: python scripts/body_memory.py SRC_DIR  (SRC_DIR: the checkout's src/, so two versions compare)
"""
import os, subprocess, sys, threading, time, tempfile, socket
from pathlib import Path
import httpx
src = sys.argv[1]
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"): return int(line.split()[1]) // 1024
    return 0
def measure(path, params, headers, size):
    d = Path(tempfile.mkdtemp()); port = free_port()
    (d/"q.toml").write_text('[[queue]]\nname = "Q"\ncores = 1\nmax_memory_per_core = 2000\nmax_walltime = 600\n')
    env = {**os.environ, "PYTHONPATH": src}
    p = subprocess.Popen([sys.executable, "-m", "pandawms.cli.main", "server", "--port", str(port), "--data-dir", str(d), "--queues", str(d/"q.toml"), "--no-agents", "--log-level", "error"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api = f"http://127.0.0.1:{port}/api/v1"
    for _ in range(600):
        try:
            if httpx.get(api + "/health", timeout=1).status_code == 200: break
        except httpx.HTTPError: time.sleep(0.2)
    if "job_id" in params:
        httpx.post(api + "/job/submit", json={"jobs": [{"transformation": "/bin/true", "computingSite": "Q"}]})
    base = rss(p.pid); peak = [base]; stop = threading.Event()
    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss(p.pid)); time.sleep(0.01)
    t = threading.Thread(target=sample); t.start()
    chunk = b"x" * (1 << 20)
    def body():
        for _ in range(size): yield chunk
    try:
        r = httpx.post(api + path, params=params, content=body(), headers=headers, timeout=600)
        status = r.status_code
    except httpx.HTTPError as e:
        status = type(e).__name__
    stop.set(); t.join(); p.terminate(); p.wait()
    return base, peak[0], status
for name, path, params, headers in [
    ("log upload", "/file_server/upload_log", {"job_id": 1, "filename": "log.tgz"}, {"Content-Type": "application/octet-stream"}),
    ("invalid submit", "/job/submit", {}, {"Content-Type": "application/json"}),
]:
    base, peak, status = measure(path, params, headers, 300)
    print(f"{name}: base {base} MB, peak {peak} MB (+{peak-base}), answer {status}")
