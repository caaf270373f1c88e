"""The Rekognition-compatible HTTP endpoint (`faceindex serve`): AWS JSON 1.1 requests in,
Collection / FaceEngine / video calls, Rekognition's response shapes out.

A caller of the rooms below it (collection, engine, video); nothing below imports it.

    config.py        ServiceConfig: what `faceindex serve` was started with
    errors.py        ServiceError: a Rekognition error name, its HTTP status and message;
                     faceindex's own errors translated to Rekognition's
    context.py       RequestContext: what an operation handler is given besides its parameters
    operations/      one module per group of operations; each handler registered by name
"""
