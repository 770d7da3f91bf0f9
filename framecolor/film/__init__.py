"""Colorizing film, in parts that match the pipeline's seams.

options: VideoJob (a job's settings) and film_model; stream: StreamColorizer (L* in, temporal carry,
colour out) and colorize_frames; carry: scene cuts and the optical-flow colour carry; store: the
resumable chunk store; job: colorize_video, the chunked, resumable job and its remux.
"""
