"""A client program in the style of AWS's Python examples for Rekognition collections (the developer
guide's create / describe / add faces / list faces / search / delete collection scripts, and the
collections demo), written for faceindex's tests: it reads photos from S3 and runs unchanged against
Amazon Rekognition or against `faceindex serve` (AWS_ENDPOINT_URL_REKOGNITION, AWS_ENDPOINT_URL_S3).

    python faces_in_a_collection.py BUCKET COLLECTION_ID PHOTO [PHOTO ...] --search PHOTO

It prints one JSON line per step, for the test that runs it to read.
"""

import argparse
import json

import boto3
from botocore.exceptions import ClientError


def show(step, **values):
    print(json.dumps({"step": step, **values}, default=str), flush=True)


def create_collection(client, collection_id):
    response = client.create_collection(CollectionId=collection_id)
    show("create_collection", arn=response["CollectionArn"], status=response["StatusCode"],
         version=response["FaceModelVersion"])


def describe_collection(client, collection_id):
    try:
        response = client.describe_collection(CollectionId=collection_id)
        show("describe_collection", faces=response["FaceCount"], version=response["FaceModelVersion"],
             arn=response["CollectionARN"], created=response["CreationTimestamp"])
    except ClientError as e:
        if e.response["Error"]["Code"] == "ResourceNotFoundException":
            show("describe_collection", missing=collection_id)
        else:
            raise


def add_faces_to_collection(client, bucket, photo, collection_id):
    response = client.index_faces(CollectionId=collection_id, Image={"S3Object": {"Bucket": bucket, "Name": photo}},
                                  ExternalImageId=photo, MaxFaces=1, QualityFilter="AUTO",
                                  DetectionAttributes=["ALL"])
    for record in response["FaceRecords"]:
        box = record["Face"]["BoundingBox"]
        show("indexed", photo=photo, face_id=record["Face"]["FaceId"], location=box,
             confidence=record["FaceDetail"]["Confidence"])
    for unindexed in response["UnindexedFaces"]:
        show("unindexed", photo=photo, reasons=unindexed["Reasons"])
    return len(response["FaceRecords"])


def list_faces_in_collection(client, collection_id):
    faces, tokens = [], True
    response = client.list_faces(CollectionId=collection_id, MaxResults=2)
    while tokens:
        faces += [face["FaceId"] for face in response["Faces"]]
        if "NextToken" in response:
            response = client.list_faces(CollectionId=collection_id, NextToken=response["NextToken"], MaxResults=2)
        else:
            tokens = False
    show("list_faces", faces=faces)
    return faces


def search_faces_by_image(client, bucket, photo, collection_id, threshold):
    response = client.search_faces_by_image(CollectionId=collection_id, FaceMatchThreshold=threshold, MaxFaces=5,
                                            Image={"S3Object": {"Bucket": bucket, "Name": photo}})
    show("search_faces_by_image", photo=photo, searched=response["SearchedFaceBoundingBox"],
         matches=[{"face_id": m["Face"]["FaceId"], "external": m["Face"].get("ExternalImageId"),
                   "similarity": m["Similarity"]} for m in response["FaceMatches"]])


def delete_collection(client, collection_id):
    response = client.delete_collection(CollectionId=collection_id)
    show("delete_collection", status=response["StatusCode"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bucket")
    parser.add_argument("collection_id")
    parser.add_argument("photos", nargs="+")
    parser.add_argument("--search", required=True)
    parser.add_argument("--threshold", type=float, default=40)
    args = parser.parse_args()
    client = boto3.client("rekognition")
    create_collection(client, args.collection_id)
    for photo in args.photos:
        add_faces_to_collection(client, args.bucket, photo, args.collection_id)
    describe_collection(client, args.collection_id)
    list_faces_in_collection(client, args.collection_id)
    search_faces_by_image(client, args.bucket, args.search, args.collection_id, args.threshold)
    delete_collection(client, args.collection_id)
    describe_collection(client, args.collection_id)


if __name__ == "__main__":
    main()
