from vision_core.inference.planogram import Planogram, parse_planogram
from vision_core.shelf_events import ShelfChange


def planogram(
    shelves: dict[str, list[tuple[str, float, float, tuple[float, float]]]], **shelf_opts
):
    """Shelves of ``(sku, unit_weight_g, tolerance_g, span_m)`` facings, 1.2 m long."""
    return parse_planogram(
        {
            "shelves": {
                shelf_id: {
                    "length_m": 1.2,
                    **shelf_opts,
                    "facings": [
                        {
                            "sku": sku,
                            "unit_weight_g": weight,
                            "tolerance_g": tol,
                            "span_m": list(span),
                            "price": "1.00",
                        }
                        for sku, weight, tol, span in facings
                    ],
                }
                for shelf_id, facings in shelves.items()
            }
        },
        "test",
    )


def change(shelf_id: str, delta_g: float, position_m: float | None = None, t0=10.0, t1=11.0):
    return ShelfChange(
        source="scale-1",
        t_mono=t1,
        shelf_id=shelf_id,
        kind="take" if delta_g < 0 else "put",
        delta_g=delta_g,
        started_mono=t0,
        position_m=position_m,
    )


__all__ = ["Planogram", "change", "planogram"]
