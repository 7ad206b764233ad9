"""What every other package builds on: user-facing errors, cases (contrast -> SimpleITK image on one
grid), image I/O with geometry checks (LPS mm), label checks, voxel boxes, durable (atomic, fsynced)
writes, where ``Resources/`` is, and runtime settings (memory allocator, packages to install in Slicer).

Modules: :mod:`.errors`, :mod:`.case`, :mod:`.image_io`, :mod:`.labels`, :mod:`.voxel_box`,
:mod:`.durable`, :mod:`.resources`, :mod:`.allocator`, :mod:`.dependencies`.
"""
