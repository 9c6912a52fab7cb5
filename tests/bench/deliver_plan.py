#!/usr/bin/python3
"""Generate the webhook delivery benchmark's configuration: N units whose
one `before` reminder comes due at the same instant, sent to a generic
webhook at http://127.0.0.1:PORT/hook.

usage: deliver_plan.py OUTDIR UNITS PORT [LEAD_SECONDS [BEFORE_SECONDS]]

Writes OUTDIR/kaohe.conf (a complete configuration: state, socket and
export directory under OUTDIR).  The plan has one deadline row, due
BEFORE_SECONDS (default 3) after the reminder instant, which is
LEAD_SECONDS (default 10) from now rounded up to a whole second
(Asia/Shanghai); its only reminder slot is "-BEFORE_SECONDSs", so every
unit gets one `before` reminder at that instant and nothing else is sent.
(At the due instant itself the engine records 40,000 late deductions;
nothing is sent for them.)  The units have no e-mail address and
no e-mail channel is configured: every reminder is one POST to the sink.

Prints "slot_epoch=S due=ISO" (S: the reminder instant, Unix seconds).
"""
import os
import sys
from datetime import datetime, timedelta, timezone

TZ = timezone(timedelta(hours=8))  # Asia/Shanghai has no daylight saving
# Two-character given names: the units get Chinese-looking names.
SYL = "东西南北中华新光明长安和平建设人民解放胜利友好幸福青山白云松江"


def unit_name(i):
    a = SYL[i % len(SYL)]
    b = SYL[(i // len(SYL)) % len(SYL)]
    return f"{a}{b}街道{i:05d}社区"


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    out, n, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    lead = float(sys.argv[4]) if len(sys.argv) > 4 else 10.0
    before = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    if before < 1:
        sys.exit("deliver_plan.py: BEFORE_SECONDS must be >= 1")
    if n < 1 or n > 99999:
        sys.exit("deliver_plan.py: UNITS must be 1 to 99999")
    out = os.path.abspath(out)
    os.makedirs(out, exist_ok=True)
    # The reminder instant: LEAD seconds from now, rounded up to a second.
    at = (datetime.now(TZ) + timedelta(seconds=lead)).replace(microsecond=0) \
        + timedelta(seconds=1)
    slot = int(at.timestamp())
    due = at + timedelta(seconds=before)
    units = ",\n".join(
        f'    {{ id = "u{i:05d}"; name = "{unit_name(i)}";'
        f' liaisons = ( {{ name = "联络员{i:05d}"; mobile = "139{i:08d}"; }} ); }}'
        for i in range(1, n + 1))
    text = f"""# kaohe webhook delivery benchmark: {n} units, one reminder each at {slot}
kaohe: {{
  timezone = "Asia/Shanghai";
  state_dir = "{out}/state";
  control_socket = "{out}/state/ctl.sock";
  # No publication: 40,000 units' feeds would take minutes of the same
  # two cores (README, Publication); this measures delivery.
  export_dir = "";
  log_level = "info";
}};
access: {{
  admins = {{ users = [ "root" ]; groups = [ ]; }};
  departments = {{ }};
  units = {{ }};
}};
channels: {{
  webhooks = (
    {{ name = "sink"; type = "generic"; url = "http://127.0.0.1:{port}/hook";
      units = [ "*" ]; rate = [ ]; }}
  );
  concurrency = 128;
  connect_timeout = "5s";
  timeout = "10s";
  retry = {{ first = "1s"; factor = 2.0; cap = "10s"; max_attempts = 5; max_age = "1h";
            jitter = 0.2; }};
}};
calendar: {{ holidays = [ ]; workdays = [ ]; }};
reminders: {{
  before = [ "-{before}s" ];
  due = [ ];
  overdue = false;
  record = [ ];
  escalate = false;
  shift_to_workdays = false;
  not_before_in_force = false;
}};
plan: {{
  year = {due.year};
  title = "投递基准测试方案";
  document = "基准〔{due.year}〕1号";
  in_force = {{ from = "01-01"; to = "12-31"; }};
  total = 10;
  close = "1h";
  missing_default = "late";
  categories = (
    {{ id = "basic"; name = "基本工作"; max = 10; annex = [ "常规工作" ]; }}
  );
  units = (
{units}
  );
  departments = (
    {{ id = "da"; name = "区住建局"; office = {{ name = "住建办公室"; }}; }}
  );
  metrics = ( );
  rows = (
    {{ id = "1"; annex_category = "常规工作"; category = "basic"; department = "da"; max = 10;
      content = "报送季度工作材料"; time_node = "T1"; standard = "按时报送";
      scoring = "逾期扣1分，未报送扣3分";
      deadline = {{ due = "{due.isoformat()}"; late = 1; missing = 3; }}; }}
  );
}};
"""
    os.makedirs(os.path.join(out, "state"), exist_ok=True)
    os.makedirs(os.path.join(out, "export"), exist_ok=True)
    with open(os.path.join(out, "kaohe.conf"), "w", encoding="utf-8") as f:
        f.write(text)
    print(f"slot_epoch={slot} due={due.isoformat()}")


if __name__ == "__main__":
    main()
