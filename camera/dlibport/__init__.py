"""dlib's face pipeline without dlib: the 5-point landmark cascade, the face chip and the MMOD pyramid.

Each reproduces dlib's arithmetic operation for operation (in numpy, and in C
where ``camera/dlibport/_fast.c`` was built: :mod:`camera.dlibport.native`),
so landmarks, chips and pyramids equal dlib's bit for bit. Used by the
``mmod`` detector and the ``dlib_resnet`` embedder; nothing here imports dlib.
"""
