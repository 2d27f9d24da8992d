"""Write the demo patient with a long course to demo/bundles/course-refractory.json.

Run: .venv/bin/python demo/build_course_bundle.py. The MG summary page (cds_service/smart) shows
a course: seven years of MG-ADL and QMG, glucocorticoid doses below and at the adequate dose,
two non-steroidal immunosuppressants in turn, IVIG and PLEX courses, efgartigimod cycles,
antibodies by RIPA and CBA. The other demo patients each show one rule with one or two values;
this one shows what a chart looks like after years. Same FHIR shapes as the other builders
(demo/build_bundles.py, demo/build_therapy_bundles.py); dates fixed relative to 2026-11-22.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("demo_build_therapy_bundles", HERE / "build_therapy_bundles.py")
assert _spec and _spec.loader
therapy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(therapy)

SLUG = "course-refractory"


def build() -> therapy.TherapyPatient:
    # AChR+ (RIPA) gMG since 2019, MuSK negative by CBA; prednisone first below, then at, then
    # again below the adequate dose; azathioprine for almost two years, then mycophenolate;
    # IVIG in 2020, 2023 and 2025, PLEX in 2026, two efgartigimod cycles in 2024. Refractory by
    # 3-1 (PIS unchanged after adequate therapy) and 3-4 (IVIG 2025-12 and PLEX 2026-06).
    p = therapy.TherapyPatient("gmg-demo-course", "Rosa", "Course", "female", "1971-02-17")
    p.condition("mg-generalized", "2019-05-02")
    p.antibody("achr-binding", True, "ripa", "2019-05-20")
    p.antibody("musk", False, "cba", "2021-03-15")
    for when in ("2019-05-20", "2020-11-02", "2022-03-10", "2024-04-01", "2026-10-28"):
        p.weight(62, when)
    p.quantity("height", 165, "2026-10-28")
    p.medication("prednisone", "2019-06-01", "2020-01-31", 20, status="completed")
    p.medication("prednisone", "2020-02-01", "2021-12-31", 40, status="completed")
    p.medication("prednisone", "2022-01-01", None, 15)
    p.medication("azathioprine", "2019-09-01", "2021-06-30", 50, per_day=2, status="completed")
    p.medication("mycophenolate-mofetil", "2021-07-01", None, 1000, per_day=2)
    for start in ("2020-11-03", "2023-03-06", "2025-12-01"):
        day = int(start[-2:])
        for i in range(5):
            p.ivig(f"{start[:-2]}{day + i:02d}", 25)
    p.plex("2026-06-08", "2026-06-17")
    for cycle in (("2024-04-01", "2024-04-08", "2024-04-15", "2024-04-22"),
                  ("2024-07-01", "2024-07-08", "2024-07-15", "2024-07-22")):
        for day in cycle:
            p.infusion("efgartigimod", day, 620)
    for total, ocular, when in ((11, 3, "2019-05-20"), (9, 3, "2019-12-10"), (7, 2, "2020-06-15"),
                                (12, 2, "2020-11-02"), (8, 2, "2021-06-20"), (6, 2, "2022-03-10"),
                                (10, 3, "2023-03-01"), (8, 2, "2023-10-12"), (5, 1, "2024-05-20"),
                                (9, 2, "2025-01-15"), (11, 2, "2025-11-28"), (9, 2, "2026-06-05"),
                                (9, 2, "2026-10-28")):
        p.mg_adl(total, ocular, when)
    for total, when in ((18, "2019-05-20"), (20, "2020-11-02"), (12, "2022-03-10"), (10, "2024-05-20"),
                        (17, "2025-11-28"), (16, "2026-10-28")):
        p.qmg(total, when)
    p.mgfa_class("IIIb", "2026-10-28")
    p.pis("U", "2026-10-28")
    return p


def main() -> None:
    bundle = build().bundle()
    (HERE / "bundles" / f"{SLUG}.json").write_text(json.dumps(bundle, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
