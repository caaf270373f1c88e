"""A client program in the style of AWS's Python examples for detecting and comparing faces in images
(the developer guide's detect_faces / compare_faces scripts), written for faceindex's tests. It prints
the members faceindex documents as given (BoundingBox, Confidence, Landmarks, Quality); AWS's own
scripts also print AgeRange, Gender and Emotions, which faceindex does not estimate and leaves out.

    python detect_and_compare_faces.py BUCKET PHOTO SOURCE TARGET
"""

import json
import sys

import boto3


def show(step, **values):
    print(json.dumps({"step": step, **values}, default=str), flush=True)


def detect_faces(client, bucket, photo):
    response = client.detect_faces(Image={"S3Object": {"Bucket": bucket, "Name": photo}}, Attributes=["ALL"])
    for face in response["FaceDetails"]:
        show("face", photo=photo, box=face["BoundingBox"], confidence=face["Confidence"],
             landmarks=[landmark["Type"] for landmark in face["Landmarks"]],
             brightness=face["Quality"]["Brightness"], sharpness=face["Quality"]["Sharpness"])
    return len(response["FaceDetails"])


def compare_faces(client, bucket, source, target, threshold=40):
    response = client.compare_faces(SimilarityThreshold=threshold,
                                    SourceImage={"S3Object": {"Bucket": bucket, "Name": source}},
                                    TargetImage={"S3Object": {"Bucket": bucket, "Name": target}})
    for match in response["FaceMatches"]:
        position = match["Face"]["BoundingBox"]
        show("match", left=position["Left"], top=position["Top"], similarity=match["Similarity"])
    show("compared", matched=len(response["FaceMatches"]), unmatched=len(response["UnmatchedFaces"]))


def main():
    bucket, photo, source, target = sys.argv[1:5]
    client = boto3.client("rekognition")
    show("detected", faces=detect_faces(client, bucket, photo))
    compare_faces(client, bucket, source, target)


if __name__ == "__main__":
    main()
