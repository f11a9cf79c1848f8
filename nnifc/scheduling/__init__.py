"""The trial loop's parts, which `nnifc.scheduler.Scheduler` runs.

Why a package: one name for the layers contract to place (under the scheduler, above the
platforms). `trials` follows the live trials (starts, events, metrics, stops), `proposals` asks
the tuner for new ones, `resume` leaves trials for a later launcher and adopts them, `cpu` counts
what the tuner and assessor cost.
"""
