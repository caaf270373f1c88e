"""A client program in the style of AWS's Python example for stored video (the developer guide's
VideoDetect class: an SNS topic and an SQS queue subscribed to it, a Start operation with a
NotificationChannel, waiting on the queue for the completion message, then the results fetched page
by page starting from NextToken='' as its GetResultsFaces and GetResultsFaceSearchCollection do),
written for faceindex's tests. It runs unchanged against Amazon Rekognition, SNS and SQS, or against
`faceindex serve` and moto (AWS_ENDPOINT_URL_REKOGNITION, _SNS, _SQS).

    python stored_video_faces.py BUCKET VIDEO COLLECTION_ID ROLE_ARN
"""

import json
import sys
import time

import boto3


def show(step, **values):
    print(json.dumps({"step": step, **values}, default=str), flush=True)


class VideoDetect:
    def __init__(self, role_arn, bucket, video):
        self.rek = boto3.client("rekognition")
        self.sqs = boto3.client("sqs")
        self.sns = boto3.client("sns")
        self.role_arn = role_arn
        self.bucket = bucket
        self.video = video
        self.start_job_id = ""
        self.sqs_queue_url = ""
        self.sns_topic_arn = ""

    def create_topic_and_queue(self):
        millis = str(int(round(time.time() * 1000)))
        self.sns_topic_arn = self.sns.create_topic(Name="AmazonRekognitionExample" + millis)["TopicArn"]
        self.sqs_queue_url = self.sqs.create_queue(QueueName="RekognitionQueue" + millis)["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.sqs_queue_url,
                                                  AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.sns.subscribe(TopicArn=self.sns_topic_arn, Protocol="sqs", Endpoint=queue_arn)
        policy = {"Version": "2012-10-17", "Statement": [{
            "Sid": "MyPolicy", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "SQS:SendMessage",
            "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": self.sns_topic_arn}}}]}
        self.sqs.set_queue_attributes(QueueUrl=self.sqs_queue_url, Attributes={"Policy": json.dumps(policy)})

    def delete_topic_and_queue(self):
        self.sqs.delete_queue(QueueUrl=self.sqs_queue_url)
        self.sns.delete_topic(TopicArn=self.sns_topic_arn)

    def channel(self):
        return {"RoleArn": self.role_arn, "SNSTopicArn": self.sns_topic_arn}

    def get_sqs_message_success(self):
        job_found, succeeded = False, False
        deadline = time.monotonic() + 900  # a bounded wait (AWS's example waits forever)
        while not job_found and time.monotonic() < deadline:
            response = self.sqs.receive_message(QueueUrl=self.sqs_queue_url, MessageAttributeNames=["ALL"],
                                                MaxNumberOfMessages=10, WaitTimeSeconds=5)
            for message in response.get("Messages", []):
                notification = json.loads(message["Body"])
                rek_message = json.loads(notification["Message"])
                show("notification", job_id=rek_message["JobId"], status=rek_message["Status"],
                     api=rek_message["API"], video=rek_message["Video"], tag=rek_message.get("JobTag"))
                if rek_message["JobId"] == self.start_job_id:
                    job_found = True
                    succeeded = rek_message["Status"] == "SUCCEEDED"
                self.sqs.delete_message(QueueUrl=self.sqs_queue_url, ReceiptHandle=message["ReceiptHandle"])
        return succeeded

    def start_face_detection(self):
        response = self.rek.start_face_detection(Video={"S3Object": {"Bucket": self.bucket, "Name": self.video}},
                                                 NotificationChannel=self.channel(), JobTag="faces")
        self.start_job_id = response["JobId"]
        show("started", api="StartFaceDetection", job_id=self.start_job_id)

    def get_results_faces(self):
        max_results, pagination_token, finished, faces = 10, "", False, 0
        while not finished:
            response = self.rek.get_face_detection(JobId=self.start_job_id, MaxResults=max_results,
                                                   NextToken=pagination_token)
            for face_detection in response["Faces"]:
                faces += 1
                face = face_detection["Face"]
                assert 0 <= face["Confidence"] <= 100 and "BoundingBox" in face
            if "NextToken" in response:
                pagination_token = response["NextToken"]
            else:
                finished = True
        show("faces", count=faces, codec=response["VideoMetadata"]["Codec"])

    def start_face_search_collection(self, collection):
        response = self.rek.start_face_search(Video={"S3Object": {"Bucket": self.bucket, "Name": self.video}},
                                              CollectionId=collection, NotificationChannel=self.channel(),
                                              FaceMatchThreshold=50)
        self.start_job_id = response["JobId"]
        show("started", api="StartFaceSearch", job_id=self.start_job_id)

    def get_results_face_search_collection(self):
        max_results, pagination_token, finished, persons = 10, "", False, []
        while not finished:
            response = self.rek.get_face_search(JobId=self.start_job_id, MaxResults=max_results,
                                                NextToken=pagination_token)
            for person_match in response["Persons"]:
                matches = person_match["FaceMatches"]
                persons.append({"timestamp": person_match["Timestamp"], "index": person_match["Person"]["Index"],
                                "faces": [m["Face"].get("ExternalImageId") for m in matches],
                                "similarity": [m["Similarity"] for m in matches]})
            if "NextToken" in response:
                pagination_token = response["NextToken"]
            else:
                finished = True
        show("persons", persons=persons)


def main():
    bucket, video, collection, role_arn = sys.argv[1:5]
    analyzer = VideoDetect(role_arn, bucket, video)
    analyzer.create_topic_and_queue()
    try:
        analyzer.start_face_detection()
        if analyzer.get_sqs_message_success():
            analyzer.get_results_faces()
        analyzer.start_face_search_collection(collection)
        if analyzer.get_sqs_message_success():
            analyzer.get_results_face_search_collection()
    finally:
        analyzer.delete_topic_and_queue()


if __name__ == "__main__":
    main()
